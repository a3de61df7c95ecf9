package sandbox

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkCgroupPlanCreateRemove times the pod cgroup's life.
func BenchmarkCgroupPlanCreateRemove(b *testing.B) {
	tree := newCgroupTree()
	parent := fmt.Sprintf("/crishim-bench-%d", os.Getpid())
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("pod%d", i)
		cg, err := tree.plan(id, parent+"/"+id)
		if err != nil {
			b.Fatal(err)
		}
		if err := tree.create(cg); err != nil {
			b.Fatal(err)
		}
		if err := tree.remove(id, cg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCgroupPlan times working out the pod cgroup's directories.
func BenchmarkCgroupPlan(b *testing.B) {
	tree := newCgroupTree()
	for i := 0; i < b.N; i++ {
		cg, err := tree.plan("x", "/crishim-bench-plan/x")
		if err != nil {
			b.Fatal(err)
		}
		tree.release("x", cg)
	}
}
