// Command rssmap shows where a process's resident memory is: the resident
// part of each ELF section of its executable (text, rodata, pclntab, data),
// the anonymous total, and the sizes of the page-cache folios mapped over the
// executable. Go binaries touch most 64 KB windows of their code at start-up
// (package init), the kernel maps a fault's whole 64 KB fault-around window,
// and on kernel 6.18 a whole large folio (up to 2 MB when the file came into
// the page cache through the linker's or a reader's large writes/reads), so
// the executable's RSS follows the binary's size and the page cache's state
// more than the code the process runs.
//
//	go run ./hack/rssmap PID
package main

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/cri-shim/cri-shim/hack/internal/pagemap"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: rssmap PID")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "rssmap:", err)
		os.Exit(1)
	}
}

func run(pid string) error {
	exe, err := os.Readlink("/proc/" + pid + "/exe")
	if err != nil {
		return err
	}
	pm, err := pagemap.Open(pid)
	if err != nil {
		return err
	}
	defer pm.Close()
	kf, err := os.Open("/proc/kpageflags")
	if err != nil {
		return err
	}
	defer kf.Close()
	pfn := pm.PFN
	flags := func(pfn uint64) uint64 {
		var b [8]byte
		if _, err := kf.ReadAt(b[:], int64(pfn*8)); err != nil {
			return 0
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	present := func(lo, hi uint64) (pages int, folios map[int]int) {
		folios = map[int]int{}
		run := 0
		for p := lo / 4096; p < (hi+4095)/4096; p++ {
			f := pfn(p)
			if f == 0 {
				if run > 0 {
					folios[run]++
				}
				run = 0
				continue
			}
			pages++
			if tail := flags(f)>>16&1 == 1; tail && run > 0 {
				run++
				continue
			}
			if run > 0 {
				folios[run]++
			}
			run = 1
		}
		if run > 0 {
			folios[run]++
		}
		return pages, folios
	}

	ef, err := elf.Open("/proc/" + pid + "/exe")
	if err != nil {
		return err
	}
	defer ef.Close()
	fmt.Printf("%s\n%-14s %10s %10s %5s  %s\n", exe, "section", "KiB", "rss KiB", "%", "mapped folios (pages:count)")
	for _, s := range ef.Sections {
		if s.Addr == 0 || s.Size < 8192 || s.Type == elf.SHT_NOBITS {
			continue
		}
		n, folios := present(s.Addr, s.Addr+s.Size)
		total := (s.Size + 4095) / 4096
		fmt.Printf("%-14s %10d %10d %5.0f  %s\n", s.Name, s.Size/1024, n*4, 100*float64(n)/float64(total), folioString(folios))
	}

	f, err := os.Open("/proc/" + pid + "/smaps")
	if err != nil {
		return err
	}
	defer f.Close()
	byFile := map[string]int{}
	name := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			name = "[anon]"
			if len(fs) >= 6 {
				name = fs[5]
			}
			continue
		}
		switch fs[0] {
		case "Rss:":
			v, _ := strconv.Atoi(fs[1])
			byFile[name] += v
		case "Anonymous:":
			v, _ := strconv.Atoi(fs[1])
			byFile["(anonymous pages, all mappings)"] += v
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	keys := make([]string, 0, len(byFile))
	for k := range byFile {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return byFile[keys[i]] > byFile[keys[j]] })
	fmt.Println("\nRSS KiB by mapping")
	for i, k := range keys {
		if i == 8 {
			break
		}
		fmt.Printf("%10d  %s\n", byFile[k], k)
	}
	return nil
}

func folioString(m map[int]int) string {
	sizes := make([]int, 0, len(m))
	for s := range m {
		sizes = append(sizes, s)
	}
	sort.Ints(sizes)
	var b strings.Builder
	for _, s := range sizes {
		fmt.Fprintf(&b, "%d:%d ", s, m[s])
	}
	return strings.TrimSpace(b.String())
}
