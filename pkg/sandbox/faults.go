package sandbox

// FaultEnv is the environment variable that injects faults into pod
// operations, for tests only (see internal/faultinject). Steps are the names
// m.faults.At is called with in run.go, stop.go and remove.go.
const FaultEnv = "CRI_SHIM_TEST_SANDBOX_FAULTS"
