package container

// FaultEnv is the environment variable that injects faults into container
// operations, for tests only (see internal/faultinject). Steps:
// "create-record" (record written), "create-rootfs" (rootfs mounted),
// "create-monitor" (monitor and parked init running, not yet recorded),
// "start" (process released, not yet recorded), "stop" (signal sent, exit
// not yet awaited), "remove" (removal recorded, nothing torn down yet).
const FaultEnv = "CRI_SHIM_TEST_CONTAINER_FAULTS"
