/**
 * The error body of the wire contract (PRODUCT.md "Queries"): a query reply over MQTT is
 * `{"id":...,"error":{"code":...,"content":"..."}}`, and every HTTP error answer (the /v1 API, the
 * demo assets, the edge's own 400/404/405/408/431/500/503) is `{"error":{"code":...,"content":"..."}}`
 * with `code` the HTTP status. `code` is always a number, HTTP's where one fits; `content` says what
 * was wrong in words.
 */
export interface WireError {
  code: number;
  content: string;
}

export interface ErrorBody {
  error: WireError;
}

/** The one builder of `{error: {code, content}}`. */
export function errorBody(code: number, content: string): ErrorBody {
  return { error: { code, content } };
}
