// Package pagemap reads a process's page table entries from
// /proc/PID/pagemap, for the hack tools that attribute a process's resident
// pages (hack/rssmap, hack/pclnmap).
package pagemap

import (
	"encoding/binary"
	"os"
)

// Reader reads one process's pagemap.
type Reader struct{ f *os.File }

// Open opens the pagemap of process pid.
func Open(pid string) (*Reader, error) {
	f, err := os.Open("/proc/" + pid + "/pagemap")
	if err != nil {
		return nil, err
	}
	return &Reader{f: f}, nil
}

// Close closes the pagemap.
func (r *Reader) Close() error { return r.f.Close() }

// entry is the 64-bit entry of virtual page vpage (address/4096), 0 when
// it cannot be read.
func (r *Reader) entry(vpage uint64) uint64 {
	var b [8]byte
	if _, err := r.f.ReadAt(b[:], int64(vpage*8)); err != nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b[:])
}

// Present reports whether virtual page vpage is resident.
func (r *Reader) Present(vpage uint64) bool { return r.entry(vpage)>>63 == 1 }

// PFN returns the page frame of virtual page vpage, 0 when it is not
// resident (or the reader lacks CAP_SYS_ADMIN, which the kernel requires
// to show frame numbers).
func (r *Reader) PFN(vpage uint64) uint64 {
	e := r.entry(vpage)
	if e>>63 == 0 {
		return 0
	}
	return e & (1<<55 - 1)
}
