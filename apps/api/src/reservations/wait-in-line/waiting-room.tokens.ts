/** The waiting room's line (AdmissionQueue): in process, or in Redis with REDIS_URL. */
export const ADMISSION_QUEUE = Symbol('ADMISSION_QUEUE');
