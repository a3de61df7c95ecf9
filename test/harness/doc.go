// Package harness holds what the test harnesses (test/critest, test/bench)
// share: child processes stopped by their PID, the registry that serves the
// test images on 127.0.0.1, and a private cri-shim whose registry mirrors
// send the public registries critest uses to that registry.
package harness
