// Command nnp is the program of the nonewprivs test image
// (registry.k8s.io/e2e-test-images/nonewprivs). It is installed setuid root and
// prints its effective uid: 0 when the setuid bit took effect, the caller's uid
// when no_new_privs prevented it.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
