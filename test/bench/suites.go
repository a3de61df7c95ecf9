package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// suite is one benchmark, run against each runtime in turn.
type suite struct {
	name string
	run  func(ctx context.Context, t *target) error
}

func suiteNames() []string {
	return []string{"critest", "sequential", "parallel", "pull", "exec", "go"}
}

// runSuites runs every benchmark not skipped against every target, one
// target at a time, for o.rounds rounds; the order of the targets flips
// each round. A failing benchmark is noted and its leftovers removed; the
// others still run. It reports whether any failed.
func runSuites(ctx context.Context, o options, res *Results, targets []*target, regAddr string) (failed bool) {
	var img largeImage
	if !o.skip["pull"] {
		var err error
		if img, err = pushLargeImage(ctx, regAddr, o.largeLayers, o.largeMiB<<20); err != nil {
			res.note("%v", err)
			o.skip["pull"], failed = true, true
		}
	}
	maxParallel := slices.Max(o.parallel)
	suites := []suite{
		{"critest", func(ctx context.Context, t *target) error {
			return benchCritest(ctx, t, res, o.critestBin, o.out, o.critest)
		}},
		{"sequential", func(ctx context.Context, t *target) error {
			return benchSequentialPods(ctx, t, res, o.sequential)
		}},
		{"parallel", func(ctx context.Context, t *target) error {
			for _, n := range o.parallel {
				if err := benchParallelPods(ctx, t, res, n, n == maxParallel, o.hold); err != nil {
					return err
				}
			}
			return nil
		}},
		{"pull", func(ctx context.Context, t *target) error {
			return benchPull(ctx, t, res, img, o.pulls)
		}},
		{"exec", func(ctx context.Context, t *target) error {
			return benchExec(ctx, t, res, o.execs)
		}},
	}
	for round := range o.rounds {
		order := slices.Clone(targets)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range suites {
			if o.skip[s.name] {
				continue
			}
			for _, t := range order {
				if ctx.Err() != nil {
					res.note("interrupted")
					return true
				}
				fmt.Printf("round %d/%d: %s against %s\n", round+1, o.rounds, s.name, t.name)
				t0 := time.Now()
				if err := s.run(ctx, t); err != nil {
					res.note("%s against %s: %v", s.name, t.name, err)
					failed = true
				}
				if err := t.removeAll(ctx); err != nil {
					res.note("%s against %s left pods behind: %v", s.name, t.name, err)
					failed = true
				}
				elapsed(s.name+" against "+t.name, t0)
			}
		}
	}
	return failed
}
