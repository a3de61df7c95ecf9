package monitor

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// logRecord is one CRI log record: timestamp, stream, P or F, message.
var logRecord = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) ((?s).*)$`)

// FuzzLogWriter feeds arbitrary bytes as a container's stdout through the
// real monitor (the C log writer, run as the monitor process) and parses
// the CRI log file it writes: every record must be "TIMESTAMP stdout P|F
// MESSAGE" with an RFC 3339 timestamp, no record longer than the line
// bound, and the messages, each F record ending a line, must give the
// input back (a last line without a newline ends with an F record too).
func FuzzLogWriter(f *testing.F) {
	for _, seed := range [][]byte{
		[]byte("hello\n"), []byte("no newline"), []byte("\n\n\n"), []byte("a\r\nb\rc\n"),
		[]byte("nul\x00inside\n"), bytes.Repeat([]byte("x"), 300), []byte("\xff\xfe invalid utf-8\n"),
		append(bytes.Repeat([]byte("y"), 255), '\n'), append(bytes.Repeat([]byte("z"), 256), '\n'),
		[]byte(" stdout F fake record\n2026-01-01T00:00:00Z stderr F forged\n"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		fx := newFixture(t, `cat "$0"`)
		in := filepath.Join(fx.dir, "input")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The script's $0 is the input file.
		fx.o.Create = []string{"/bin/sh", "-c", `C=$$ /bin/sh -c '` + afterCreate + `cat "$0"' "$1" <&3 >&4 2>&5 3<&- 4>&- 5>&- 6>&- 7>&- & echo $! >&7`, "sh", in}
		fx.o.MaxLine = 256
		if e := fx.waitExit(t, fx.start(t)); e.ExitCode != 0 {
			t.Fatalf("cat exited %d", e.ExitCode)
		}
		raw, err := os.ReadFile(fx.o.LogPath)
		if err != nil && !(os.IsNotExist(err) && len(data) == 0) {
			t.Fatal(err)
		}
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			t.Fatalf("log does not end with a newline: %q", raw)
		}
		var got []byte
		for _, l := range bytes.SplitAfter(raw, []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			l = l[:len(l)-1]
			m := logRecord.FindSubmatch(l)
			if m == nil {
				t.Fatalf("bad log record %q", l)
			}
			if _, err := time.Parse(time.RFC3339Nano, string(m[1])); err != nil {
				t.Fatalf("bad timestamp in %q: %v", l, err)
			}
			if string(m[2]) != "stdout" {
				t.Fatalf("record of %s, only stdout was written: %q", m[2], l)
			}
			if len(m[4]) > fx.o.MaxLine {
				t.Fatalf("record of %d bytes, over the %d-byte bound", len(m[4]), fx.o.MaxLine)
			}
			got = append(got, m[4]...)
			if m[3][0] == 'F' {
				got = append(got, '\n')
			}
		}
		want := data
		if len(data) > 0 && data[len(data)-1] != '\n' {
			want = append(append([]byte(nil), data...), '\n')
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the log gives back %q, the container wrote %q", got, data)
		}
	})
}
