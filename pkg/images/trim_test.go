package images

import "testing"

// TestIdleTrimArmsAfterTheLastPull: the trim is armed only when the last
// pull in flight ends, and a new pull disarms it.
func TestIdleTrimArmsAfterTheLastPull(t *testing.T) {
	var tr idleTrim
	tr.begin()
	tr.begin()
	tr.end()
	if tr.timer != nil {
		t.Fatal("trim armed while a pull is in flight")
	}
	tr.end()
	if tr.timer == nil {
		t.Fatal("trim not armed after the last pull")
	}
	tr.begin()
	if tr.timer.Stop() {
		t.Fatal("trim still armed once a new pull began")
	}
	tr.end()
	if !tr.timer.Stop() {
		t.Fatal("trim not armed again after that pull")
	}
}
