import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { OverloadShedder } from '@flash/access';
import { accessRequest, refusal } from './access-request';

/** Health checks and operators must get through an overload: they are how it is seen and handled. */
const NEVER_SHED = ['/health/', '/metrics', '/admin/'];

/**
 * Sheds with OVERLOADED while the process is behind (AccessHooks counts the requests in flight). A guard rather
 * than an onRequest hook so that blocked and rate-limited clients keep their more specific answer; every check
 * before it is an in-memory lookup, and what costs (the handler) comes after.
 */
@Injectable()
export class OverloadGuard implements CanActivate {
  constructor(private readonly shedder: OverloadShedder) {}

  canActivate(context: ExecutionContext): boolean {
    const { url } = accessRequest(context);
    if (NEVER_SHED.some((prefix) => url.startsWith(prefix))) return true;
    const verdict = this.shedder.check();
    if (!verdict.ok) throw refusal(verdict);
    return true;
  }
}
