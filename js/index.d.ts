// Types for ssekit (CommonJS and, through index.d.mts, ESM).

/** One dispatched event. A fresh object per event: keep it if you like. */
export interface SseEvent {
  /** The `event:` field, or "message" when the stream gave none. */
  type: string;
  /** The `data:` lines joined by "\n", without a trailing "\n". */
  data: string;
  /** The last event id in force when the event was dispatched. */
  lastEventId: string;
}

export interface ParserOptions {
  /** A complete event. */
  onEvent?: (event: SseEvent) => void;
  /** A comment line: everything after the leading ":" (no space stripped). Servers send these as heartbeats. */
  onComment?: (text: string) => void;
  /** A valid `retry:` field in milliseconds (exact up to 2^53; larger values are rounded). */
  onRetry?: (milliseconds: number) => void;
  /** Longest accepted line in bytes, line end excluded. Default 32 MiB; Infinity for no limit. */
  maxLineLength?: number;
  /** Largest accepted event data in bytes (data lines joined by LF). Default 32 MiB; Infinity for no limit. */
  maxEventSize?: number;
}

export interface Parser {
  /**
   * Parses the next chunk (a string is UTF-8 encoded first); chunks may be split anywhere.
   * Callbacks run inside feed(), in stream order. Throws SseParseError after delivering
   * what came before the error; the error is sticky: every later feed() and finish()
   * throws it again until reset(). A callback must not call feed(), finish() or reset()
   * of the same parser (that throws); close() is allowed and stops delivery.
   */
  feed(chunk: Uint8Array | ArrayBufferView | ArrayBuffer | string): void;
  /** End of stream: drops an unterminated event. Throws the sticky error, if any. */
  finish(): void;
  /** Prepares for a new stream (a reconnect): clears all stream state and the error, keeps the options and lastEventId. */
  reset(): void;
  /** Frees the parser's WebAssembly memory. Any later use except close() throws. */
  close(): void;
  /** The last event id: the value of the last `id:` field that was followed by a dispatch. */
  readonly lastEventId: string;
  /** True after close(). */
  readonly closed: boolean;
}

export function createParser(options?: ParserOptions): Parser;

export type SseParseErrorCode = 'line_too_long' | 'event_too_large' | 'feed_after_finish';
export type SseSerializeErrorCode = 'invalid_event_type' | 'invalid_event_id' | 'invalid_comment';

export class SseParseError extends Error {
  readonly name: 'SseParseError';
  /** The core's error name. */
  readonly code: SseParseErrorCode;
  /** Bytes from the start of the stream (a BOM included) to the start of the offending line. */
  readonly offset: number;
}

export class SseSerializeError extends Error {
  readonly name: 'SseSerializeError';
  /** The core's error name. */
  readonly code: SseSerializeErrorCode;
}

export interface OutgoingEvent {
  /** Always written; CR, LF and CRLF inside split it over several `data:` lines. */
  data: string;
  /** Omitted or "": no `event:` line. Must not contain CR or LF. */
  type?: string;
  /** Omitted: no `id:` line. "" resets the reader's last event id. Must not contain CR, LF or NUL. */
  id?: string;
  /** Milliseconds, 0 to 2^64-1: a `retry:` line before the event. */
  retry?: number | bigint;
}

/** One complete event, ending with an empty line. Throws SseSerializeError for a type or id that cannot be written. */
export function serializeEvent(event: OutgoingEvent): string;
/** `:text` and a line end. Throws SseSerializeError (invalid_comment) if `text` contains CR or LF. */
export function serializeComment(text: string): string;
/** `retry: N` and a line end. */
export function serializeRetry(milliseconds: number | bigint): string;
/** An empty comment line, the usual keep-alive. */
export function serializeHeartbeat(): string;
