import { gateContract } from '../../test/gate.contract';
import { InProcessGate } from './in-process-gate';

gateContract('in-process', async () => new InProcessGate());
