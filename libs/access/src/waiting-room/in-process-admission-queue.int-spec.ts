import { admissionQueueContract } from '../../test/admission-queue.contract';
import { InProcessAdmissionQueue } from './in-process-admission-queue';

admissionQueueContract('in-process', async () => new InProcessAdmissionQueue());
