/** Helpers for tests that run real worker processes. */

/** One line of the side-effect log written by chaos_worker.ts. */
export interface Execution {
  run: string;
  step: string;
  key: string;
  attempt: number;
  pid: number;
  at: number;
}

/** A worker child process. */
export interface WorkerProcess {
  child: Deno.ChildProcess;
  /** The worker's own pid (under a `prefix` such as faketime, known once ready). */
  readonly pid: number;
  /** Resolves once the worker prints "ready". */
  ready: Promise<void>;
  /** Everything the worker printed to stderr so far. */
  stderr(): string;
  /** Resolves when the process exits. */
  exited: Promise<Deno.CommandStatus>;
}

const WORKER = new URL("./chaos_worker.ts", import.meta.url);

/** Starts a worker process over `db` that logs step executions to `log`. */
export function spawnWorker(options: {
  db: string;
  log: string;
  schema?: string | undefined;
  concurrency?: number;
  leaseMs?: number;
  pollMs?: number;
  delayMs?: number;
  /** A command that runs the worker, e.g. `["faketime", "-f", "+60s"]` for a clock 60s ahead. */
  prefix?: string[];
  maxRecoveries?: number;
  id?: string;
  /** Once ready, the process itself starts a run of `slow` (input 20) with this id. */
  startSlow?: string;
}): WorkerProcess {
  const args = [
    "run",
    "--allow-all",
    WORKER.pathname,
    "--db",
    options.db,
    "--log",
    options.log,
    "--concurrency",
    String(options.concurrency ?? 8),
    "--lease",
    String(options.leaseMs ?? 2000),
    "--poll",
    String(options.pollMs ?? 100),
    "--delay",
    String(options.delayMs ?? 30),
  ];
  if (options.schema) args.push("--schema", options.schema);
  if (options.startSlow !== undefined) args.push("--start-slow", options.startSlow);
  if (options.maxRecoveries !== undefined) {
    args.push("--max-recoveries", String(options.maxRecoveries));
  }
  if (options.id) args.push("--id", options.id);
  const [command, ...prefixArgs] = [...(options.prefix ?? []), Deno.execPath()];
  const child = new Deno.Command(command!, {
    args: [...prefixArgs, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let errors = "";
  const decoder = new TextDecoder();
  void child.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (errors += decoder.decode(chunk)) }),
  ).catch(() => {});
  // A prefix command may run the worker as its child: the worker prints its pid.
  let pid = child.pid;
  const ready = (async () => {
    let seen = "";
    const reader = child.stdout.getReader();
    try {
      while (!/ready \d+\n/.test(seen)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`Worker exited before it was ready: ${errors}`);
        seen += decoder.decode(value);
      }
      pid = Number(/ready (\d+)\n/.exec(seen)![1]);
    } finally {
      reader.releaseLock();
    }
    void child.stdout.pipeTo(new WritableStream()).catch(() => {});
  })();
  // A replacement worker may be killed before it is ready and nobody awaits its
  // `ready`: keep that rejection from failing the test as an unhandled one.
  ready.catch(() => {});
  return {
    child,
    get pid() {
      return pid;
    },
    ready,
    stderr: () => errors,
    exited: child.status,
  };
}

/** Sends SIGKILL (or another signal) and waits for the exit when killing. */
export async function kill(worker: WorkerProcess, signal: Deno.Signal = "SIGKILL"): Promise<void> {
  try {
    Deno.kill(worker.pid, signal);
  } catch {
    // already gone
  }
  if (signal === "SIGKILL" || signal === "SIGTERM") await worker.exited;
}

/** Reads the side-effect log. */
export function readExecutions(log: string): Execution[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(log);
  } catch {
    return [];
  }
  return text.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
}

/** Waits until `check` returns true, polling every `everyMs`; throws after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
