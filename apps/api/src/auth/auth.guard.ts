import { applyDecorators, CanActivate, createParamDecorator, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../http/error-catalogue';
import { Refuses } from '../http/refusals';
import { JwtService, Principal, Role } from './jwt.service';

const AUTH_KEY = 'flash:auth';

/** `@Authenticated()` any signed-in user; `@Authenticated('admin')` one of the listed roles (a bearer token either way). */
export const Authenticated = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(AUTH_KEY, roles), ApiBearerAuth(), Refuses('UNAUTHENTICATED', ...(roles.length > 0 ? (['FORBIDDEN'] as const) : [])));

type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

const admit = (request: AuthenticatedRequest, roles: readonly Role[], principal: Principal): boolean => {
  if (roles.length > 0 && !roles.some((r) => principal.roles.includes(r))) {
    throw new ApiError('FORBIDDEN', `this route needs the role ${roles.join(' or ')}`);
  }
  request.principal = principal;
  return true;
};

/** Runs before the body is parsed (see json-body.ts): a buyer posting anything to an admin route gets 403. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly jwt: JwtService,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(AUTH_KEY, [context.getHandler(), context.getClass()]);
    if (roles === undefined) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    // An HS256 or remembered token is answered at once; an identity provider's new one asynchronously.
    const verified = this.jwt.verify(request.headers.authorization);
    return verified instanceof Promise ? verified.then((principal) => admit(request, roles, principal)) : admit(request, roles, verified);
  }
}

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new ApiError('UNAUTHENTICATED', 'no principal on this route');
  return principal;
});

export const isAdmin = (p: Principal): boolean => p.roles.includes('admin');
