// One rule for cancelled work, everywhere a caller passes an AbortSignal: the promise rejects with
// an AbortError (the signal's own reason when it is one, so a caller can tell its abort apart).

export function abortError(signal: AbortSignal, what = 'the operation'): Error {
  return signal.reason instanceof Error && signal.reason.name === 'AbortError' ? signal.reason : new DOMException(`${what} was aborted`, 'AbortError');
}

/** Throws abortError when `signal` has been aborted; called between stages of long work. */
export function checkAbort(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}
