import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { NotFound } from '@flash/domain';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../http/error-catalogue';
import { Refuses } from '../http/refusals';
import { SALE_PAGE_HEADERS } from '../http/security-headers';
import { PAGE_DOCUMENT, PageAsset, SalePageAssets } from './sale-page.assets';

const acceptsGzip = (request: FastifyRequest): boolean => /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');

const matchesEtag = (request: FastifyRequest, etag: string): boolean => {
  const header = request.headers['if-none-match'];
  return header !== undefined && header.split(',').some((tag) => tag.trim() === etag);
};

/**
 * API.md "Sale page": `GET /` serves the page (`?sale=ID` is read by the page itself, so the document is the same for
 * every sale and every visitor and can sit in any cache); its files are under `/sale-page/`. No auth.
 */
@ApiTags('sale page')
@Controller()
export class SalePageController {
  constructor(private readonly assets: SalePageAssets) {}

  @Get()
  @ApiProduces('text/html')
  @ApiQuery({ name: 'sale', required: false, description: 'the sale to show (read by the page itself); the demo sale by default' })
  @ApiOkResponse({ description: 'the sale page (HTML, no auth)', schema: { type: 'string' } })
  page(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(this.assets.get(PAGE_DOCUMENT), request, reply);
  }

  @Get('sale-page/:file')
  @ApiOkResponse({ description: "one of the page's files (script, style sheet, worker)", schema: { type: 'string' } })
  @Refuses('NOT_FOUND')
  file(@Param('file') name: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    const asset = this.assets.get(name);
    if (asset === undefined || name === PAGE_DOCUMENT) throw new ApiError('NOT_FOUND', 'no such file');
    this.send(asset, request, reply);
  }

  private send(asset: PageAsset | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (asset === undefined) throw new NotFound('file', PAGE_DOCUMENT);
    void reply.headers(SALE_PAGE_HEADERS).header('cache-control', asset.cacheControl).header('vary', 'accept-encoding');
    if (asset.cacheControl !== 'no-store') {
      void reply.header('etag', asset.etag);
      if (matchesEtag(request, asset.etag)) {
        void reply.status(304).send();
        return;
      }
    }
    void reply.header('content-type', asset.contentType);
    if (acceptsGzip(request)) void reply.header('content-encoding', 'gzip').send(asset.gzipped);
    else void reply.send(asset.body);
  }
}
