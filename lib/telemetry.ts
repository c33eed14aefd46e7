/**
 * OpenTelemetry spans through `npm:@opentelemetry/api`: one per run activation
 * and one per step attempt. No-op unless a tracer provider is registered (Deno
 * registers one under `OTEL_DENO=true`).
 *
 * @module
 */
import { context, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import denoJson from "../deno.json" with { type: "json" };

/** The instrumentation scope: the package name and the version it is published at. */
const tracer = trace.getTracer("sluice", denoJson.version);

/** Starts the span of a run activation; undefined when tracing is off. */
export function startRunSpan(runId: string, workflow: string): Span | undefined {
  const span = tracer.startSpan(`sluice.run ${workflow}`, {
    attributes: { "sluice.run_id": runId, "sluice.workflow": workflow },
  });
  if (span.isRecording()) return span;
  span.end();
  return undefined;
}

/** Starts a step attempt's span under the run span. */
export function startStepSpan(
  parent: Span,
  runId: string,
  workflow: string,
  step: string,
  attempt: number,
): Span {
  return tracer.startSpan(
    `sluice.step ${step}`,
    {
      attributes: {
        "sluice.run_id": runId,
        "sluice.workflow": workflow,
        "sluice.step": step,
        "sluice.attempt": attempt,
      },
    },
    trace.setSpan(context.active(), parent),
  );
}

/** Runs `fn` with `span` as the active span, so user spans nest under it. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Ends a span, marking it failed when there is an error. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
    if (error instanceof Error) span.recordException(error);
  }
  span.end();
}
