/**
 * A booking saga: reserve a flight, a hotel and a car. The car rental has
 * nothing left, so the run fails, and the compensations of the steps that
 * completed run in reverse order: the hotel is released, then the flight.
 *
 * Run it with `deno run examples/booking.ts`.
 */
import { LocalRunner, NonRetryableError, workflow } from "../mod.ts";

/** A pretend booking service that keeps what is reserved. */
export class Bookings {
  /** Reservation ids held now. */
  readonly held = new Set<string>();
  /** Everything done, in order. */
  readonly log: string[] = [];

  reserve(what: string, trip: string): string {
    if (what === "car") throw new NonRetryableError("No cars left");
    const id = `${what}-${trip}`;
    this.held.add(id);
    this.log.push(`reserved ${id}`);
    return id;
  }

  release(id: string): void {
    this.held.delete(id);
    this.log.push(`released ${id}`);
  }
}

/** What the saga books for one trip. */
export interface Trip {
  id: string;
}

const service = (deps: Record<string, unknown>) => deps.bookings as Bookings;

/** Reserve the flight, the hotel and the car; undo the reservations made when a later one fails. */
export const booking = workflow<Trip>("booking")
  .step("flight", (trip, ctx) => service(ctx.deps).reserve("flight", trip.id), {
    compensate: (id, ctx) => service(ctx.deps).release(id),
  })
  .step("hotel", (_flight, ctx) => service(ctx.deps).reserve("hotel", ctx.input.id), {
    compensate: (id, ctx) => service(ctx.deps).release(id),
  })
  .step("car", (_hotel, ctx) => service(ctx.deps).reserve("car", ctx.input.id), {
    retry: { maxAttempts: 3 },
    compensate: (id, ctx) => service(ctx.deps).release(id),
  });

if (import.meta.main) {
  const bookings = new Bookings();
  await using runner = new LocalRunner({ deps: { bookings } });
  const run = await runner.start(booking, { id: "trip-7" });
  const error = await run.result().catch((e) => e);
  console.log(`failed: ${error.cause.message}`);
  console.log(bookings.log.join("\n"));
  console.log(`compensated: ${(await runner.get(run.id)).compensated === true}`);
}
