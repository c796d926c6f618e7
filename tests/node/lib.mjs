// What the client scripts share: one JSON record per stdout line, and waits that fail
// loudly instead of hanging (tests/test_node_sdks.py reads the records and asserts on them).

export function record(kind, fields = {}) {
  process.stdout.write(JSON.stringify({ kind, ...fields }) + '\n');
}

// Resolves with the first value `subscribe` hands to its callback for which `match` holds;
// rejects after `ms` so that a missing event names itself in the failure.
export function waitFor(what, subscribe, match = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    subscribe((...args) => {
      if (settled || !match(...args)) return;
      settled = true;
      clearTimeout(timer);
      resolve(args.length > 1 ? args : args[0]);
    });
  });
}

// Runs `main`, records a failure as {kind: "failure"}, and exits: open sockets or stray
// timers must not keep node alive past the end of the scenario.
export function run(main) {
  main().then(
    () => process.exit(0),
    (error) => {
      record('failure', { message: String(error?.stack ?? error) });
      process.exit(1);
    },
  );
}
