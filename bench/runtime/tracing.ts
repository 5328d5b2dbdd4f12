/**
 * Tracing modes of the runtime benchmark: `off` (no exporter: the no-op tracer), `memory` (every
 * span made and batched by a `BatchSpanProcessor` into an exporter that counts and drops them)
 * and `otlp` (OTLP/HTTP JSON to a local sink server that reads and discards each export: the whole
 * cost, serialisation and HTTP included).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExportResult } from '@opentelemetry/core';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createTracing, type Tracing } from '../../src/tracing/index.js';

export type TracingMode = 'off' | 'memory' | 'otlp';

/** Spans exported so far (both exporting modes). */
export const exported = { spans: 0, bytes: 0 };

/** An exporter that counts and drops spans. */
class CountingExporter implements SpanExporter {
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    exported.spans += spans.length;
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A local OTLP/HTTP sink: answers 200 to every export after reading it. */
async function startSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (exported.bytes += c.length));
    req.on('end', () => {
      exported.spans += 0;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The tracing of one benchmark app in `mode` (undefined for `off`: the app makes its no-op one). */
export async function benchTracing(
  mode: TracingMode,
): Promise<{ tracing: Tracing | undefined; close(): Promise<void> }> {
  if (mode === 'off') return { tracing: undefined, close: () => Promise.resolve() };
  if (mode === 'memory') {
    const tracing = createTracing(
      { otlp_endpoint: null },
      { spanProcessors: [new BatchSpanProcessor(new CountingExporter(), { scheduledDelayMillis: 200 })] },
    );
    return { tracing, close: () => tracing.shutdown() };
  }
  const sink = await startSink();
  const tracing = createTracing({ otlp_endpoint: sink.url }, { scheduledDelayMs: 200 });
  return {
    tracing,
    async close() {
      await tracing.shutdown();
      await sink.close();
    },
  };
}
