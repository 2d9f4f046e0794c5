import { createServer, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

/**
 * The part of opentelemetry-proto (collector/trace/v1, trace/v1, common/v1, resource/v1) that an
 * OTLP/HTTP trace export uses, with the upstream field numbers: decoded with protobufjs, so that the
 * test reads the exporter's real wire format, as a collector would.
 */
const OTLP_TRACE_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; SpanKind kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10;
  repeated Event events = 11; uint32 dropped_events_count = 12;
  repeated Link links = 13; uint32 dropped_links_count = 14; Status status = 15;
  message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
  message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; uint32 dropped_attributes_count = 5; fixed32 flags = 6; }
  enum SpanKind { SPAN_KIND_UNSPECIFIED = 0; SPAN_KIND_INTERNAL = 1; SPAN_KIND_SERVER = 2; SPAN_KIND_CLIENT = 3; SPAN_KIND_PRODUCER = 4; SPAN_KIND_CONSUMER = 5; }
}
message Status { reserved 1; string message = 2; StatusCode code = 3; enum StatusCode { STATUS_CODE_UNSET = 0; STATUS_CODE_OK = 1; STATUS_CODE_ERROR = 2; } }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`;

const requestType = protobuf
  .parse(OTLP_TRACE_PROTO, { keepCase: true })
  .root.lookupType('otlp.ExportTraceServiceRequest');

/** A span as received, ids in lowercase hex. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client (OTLP's SpanKind). */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, unknown>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  events: { name: string; attributes: Record<string, unknown> }[];
  resource: Record<string, unknown>;
  scope: string;
}

export interface OtlpReceiver {
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** The content types of the export requests received (refused ones included). */
  contentTypes: string[];
  close: () => Promise<void>;
}

/**
 * An OTLP/HTTP trace receiver on 127.0.0.1 (`POST /v1/traces`, protobuf or JSON). With `refuseWith`,
 * every export is answered with that status instead (a backend that rejects the token), and counted.
 */
export async function startOtlpReceiver({ refuseWith }: { refuseWith?: number } = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      const body = await readBody(request);
      const contentType = request.headers['content-type'] ?? '';
      contentTypes.push(contentType);
      if (refuseWith !== undefined) {
        response.writeHead(refuseWith, { 'content-type': 'text/plain' }).end('refused');
        return;
      }
      try {
        if (contentType.startsWith('application/x-protobuf')) {
          spans.push(...fromProtobuf(body));
          response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        } else if (contentType.startsWith('application/json')) {
          spans.push(...fromJson(JSON.parse(body.toString('utf8'))));
          response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else {
          response.writeHead(415).end();
        }
      } catch (err) {
        response.writeHead(400).end(String(err));
      }
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

type AnyRecord = Record<string, any>;

function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const decoded = requestType.toObject(requestType.decode(body), { longs: String, bytes: Buffer });
  return flatten(decoded.resource_spans, {
    scopeSpans: 'scope_spans',
    hex: (value: Buffer | undefined) => value?.toString('hex') ?? '',
    keys: {
      traceId: 'trace_id',
      spanId: 'span_id',
      parentSpanId: 'parent_span_id',
      start: 'start_time_unix_nano',
      end: 'end_time_unix_nano',
    },
  });
}

/** OTLP/JSON: camelCase keys, ids already hex, 64-bit integers as strings. */
function fromJson(body: AnyRecord): ReceivedSpan[] {
  return flatten(body.resourceSpans ?? [], {
    scopeSpans: 'scopeSpans',
    hex: (value: string | undefined) => value ?? '',
    keys: {
      traceId: 'traceId',
      spanId: 'spanId',
      parentSpanId: 'parentSpanId',
      start: 'startTimeUnixNano',
      end: 'endTimeUnixNano',
    },
  });
}

function flatten(
  resourceSpans: AnyRecord[],
  format: {
    scopeSpans: string;
    hex: (value: any) => string;
    keys: { traceId: string; spanId: string; parentSpanId: string; start: string; end: string };
  },
): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpan of resourceSpans) {
    const resource = attributes(resourceSpan.resource?.attributes);
    for (const scopeSpan of resourceSpan[format.scopeSpans] ?? []) {
      for (const span of scopeSpan.spans ?? []) {
        spans.push({
          traceId: format.hex(span[format.keys.traceId]),
          spanId: format.hex(span[format.keys.spanId]),
          parentSpanId: format.hex(span[format.keys.parentSpanId]),
          name: span.name,
          kind: Number(span.kind ?? 0),
          startTimeUnixNano: BigInt(span[format.keys.start] ?? 0),
          endTimeUnixNano: BigInt(span[format.keys.end] ?? 0),
          attributes: attributes(span.attributes),
          statusCode: Number(span.status?.code ?? 0),
          events: (span.events ?? []).map((event: AnyRecord) => ({
            name: event.name,
            attributes: attributes(event.attributes),
          })),
          resource,
          scope: scopeSpan.scope?.name ?? '',
        });
      }
    }
  }
  return spans;
}

function attributes(list: AnyRecord[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}

function anyValue(value: AnyRecord | undefined): unknown {
  if (!value) return undefined;
  for (const key of ['string_value', 'stringValue', 'bool_value', 'boolValue', 'double_value', 'doubleValue']) {
    if (value[key] !== undefined && value[key] !== null) return value[key];
  }
  for (const key of ['int_value', 'intValue']) {
    if (value[key] !== undefined && value[key] !== null) return Number(value[key]);
  }
  return undefined;
}
