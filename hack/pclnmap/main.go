// Command pclnmap attributes the resident pages of a running Go process's
// executable to what they hold: the sub-tables of .gopclntab (pcHeader,
// funcnametab, cutab, filetab, pctab, functab, _func, then go:func.*
// (funcdata: stack maps, inlining trees) and findfunctab, which the linker
// puts in the same section) with the number of 64 KiB windows touched (the
// kernel maps a file fault's whole 64 KiB fault-around window, so windows,
// not bytes, are what the RSS counts), and, for the per-function parts
// (pctab, _func, funcnametab) and for .text, to functions and their Go
// packages. Residency comes from /proc/PID/pagemap,
// as in hack/rssmap; the function table from the binary's own pclntab, so a
// stripped (-s -w) binary works. With -nm FILE (the output of
// `go tool nm -size -sort address` of an unstripped build with the same
// layout) .rodata and .noptrdata pages are attributed to symbols too.
//
// With -addrs FILE (hex addresses, e.g. the data addresses of page faults
// from `perf record -e page-faults -d`) it prints, for each address, the
// sub-table and the function whose entry holds it. -present FILE -exe BIN
// reads a saved list of resident pages instead of a live PID.
//
//	go run ./hack/pclnmap [-top N] [-funcs] [-nm FILE] PID
//	go run ./hack/pclnmap -present PAGES -exe BIN [-addrs FILE]
package main

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/cri-shim/cri-shim/hack/internal/pagemap"
)

const page = 4096

var addrsFile string

type fn struct {
	name       string
	pkg        string
	entry      uint64 // text address
	end        uint64
	funcOff    uint64 // offset of _func in section
	funcLen    uint64
	nameOff    uint64
	nameLen    uint64
	pcLo, pcHi uint64 // this function's pcsp table in pctab
}

func main() {
	top := flag.Int("top", 25, "packages to list per table")
	flag.StringVar(&addrsFile, "addrs", "", "a file of hex addresses (one a line, anything after the address kept): print the sub-table and the function each belongs to")
	funcs := flag.Bool("funcs", false, "list the functions whose pctab/_func entries lie on resident pages")
	nmFile := flag.String("nm", "", "go tool nm -size -sort address output of an unstripped build with the same layout")
	present := flag.String("present", "", "instead of a PID: a file of resident page numbers (address/4096, one a line) saved from the process's pagemap")
	exe := flag.String("exe", "", "with -present: the executable")
	flag.Parse()
	if (flag.NArg() != 1) == (*present == "") {
		fmt.Fprintln(os.Stderr, "usage: pclnmap [-top N] [-funcs] [-nm FILE] PID | -present FILE -exe BIN")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *present, *exe, *top, *funcs, *nmFile); err != nil {
		fmt.Fprintln(os.Stderr, "pclnmap:", err)
		os.Exit(1)
	}
}

// pkgOf returns the package path of a Go symbol name.
func pkgOf(name string) string {
	name = strings.TrimPrefix(name, "type:")
	name = strings.TrimPrefix(name, "go:")
	i := strings.LastIndex(name, "/")
	if i < 0 {
		i = 0
	}
	j := strings.Index(name[i:], ".")
	if j < 0 {
		return name
	}
	return name[:i+j]
}

func run(pid, presentFile, exe string, top int, listFuncs bool, nmFile string) error {
	var resident func(addr uint64) bool
	if presentFile != "" {
		b, err := os.ReadFile(presentFile)
		if err != nil {
			return err
		}
		set := map[uint64]bool{}
		for _, l := range strings.Fields(string(b)) {
			n, err := strconv.ParseUint(l, 10, 64)
			if err != nil {
				return err
			}
			set[n] = true
		}
		resident = func(addr uint64) bool { return set[addr/page] }
	} else {
		exe = "/proc/" + pid + "/exe"
		pm, err := pagemap.Open(pid)
		if err != nil {
			return err
		}
		defer pm.Close()
		resident = func(addr uint64) bool { return pm.Present(addr / page) }
	}
	ef, err := elf.Open(exe)
	if err != nil {
		return err
	}
	defer ef.Close()
	if ef.Type != elf.ET_EXEC {
		return fmt.Errorf("only non-PIE executables are supported")
	}
	sec := ef.Section(".gopclntab")
	if sec == nil {
		return fmt.Errorf("no .gopclntab")
	}
	data, err := sec.Data()
	if err != nil {
		return err
	}
	text := ef.Section(".text")
	le := binary.LittleEndian
	if le.Uint32(data) != 0xfffffff1 {
		return fmt.Errorf("pclntab magic %#x", le.Uint32(data))
	}
	nfunc := le.Uint64(data[8:])
	off := func(i int) uint64 { return le.Uint64(data[8+8*i:]) }
	funcnameOff, cuOff, filetabOff, pctabOff, pclnOff := off(3), off(4), off(5), off(6), off(7)
	ftabEnd := pclnOff + (nfunc+1)*8
	type sub struct {
		name   string
		lo, hi uint64
	}
	// Resident map of the section's pages (by page index from the section start,
	// pages aligned to absolute addresses).
	base := sec.Addr
	pageRes := map[uint64]bool{} // absolute page number -> resident
	for a := base &^ (page - 1); a < base+sec.Size; a += page {
		pageRes[a/page] = resident(a)
	}
	resAt := func(o uint64) bool { return pageRes[(base+o)/page] }

	// pcvalue table length: varint pairs, ending with a 0 value delta
	// (except as the first byte).
	tabLen := func(o uint64) uint64 {
		if o == 0 {
			return 0
		}
		p := pctabOff + o
		start := p
		first := true
		for {
			if p >= pclnOff {
				return p - start
			}
			if data[p] == 0 && !first {
				return p + 1 - start
			}
			first = false
			// value delta
			for data[p]&0x80 != 0 {
				p++
			}
			p++
			// pc delta
			for data[p]&0x80 != 0 {
				p++
			}
			p++
		}
	}
	fns := make([]fn, nfunc)
	for i := uint64(0); i < nfunc; i++ {
		e := pclnOff + i*8
		entryOff := uint64(le.Uint32(data[e:]))
		fo := uint64(le.Uint32(data[e+4:]))
		nextEntry := uint64(le.Uint32(data[e+8:]))
		f := pclnOff + fo // _func offset from the section start
		nameOff := uint64(le.Uint32(data[f+4:]))
		pcsp, pcfile, pcln := uint64(le.Uint32(data[f+16:])), uint64(le.Uint32(data[f+20:])), uint64(le.Uint32(data[f+24:]))
		npcdata := uint64(le.Uint32(data[f+28:]))
		nfuncdata := uint64(data[f+43])
		nm := funcnameOff + nameOff
		ne := nm
		for data[ne] != 0 {
			ne++
		}
		name := string(data[nm:ne])
		x := fn{name: name, pkg: pkgOf(name), entry: text.Addr + entryOff, end: text.Addr + nextEntry,
			funcOff: f, funcLen: 44 + 4*npcdata + 4*nfuncdata, nameOff: nm, nameLen: ne - nm + 1}
		// pctab is written in function order (pcsp, pcfile, pcln, pcdata...
		// of each function, shared tables once): attribute by the pcsp table.
		if pcsp != 0 {
			x.pcLo = pctabOff + pcsp
			x.pcHi = x.pcLo + tabLen(pcsp)
		}
		_, _, _ = npcdata, pcfile, pcln
		fns[i] = x
	}
	// After the _func structs the section holds go:func.* (funcdata: stack
	// maps, inlining trees, arg info), then runtime.findfunctab (20 bytes
	// per 4 KiB of text).
	funcEnd := uint64(0)
	for i := range fns {
		funcEnd = max(funcEnd, fns[i].funcOff+fns[i].funcLen)
	}
	findfunc := uint64(len(data)) - (fns[len(fns)-1].end-fns[0].entry+4095)/4096*20
	subs := []sub{
		{"pcHeader", 0, funcnameOff},
		{"funcnametab", funcnameOff, cuOff},
		{"cutab", cuOff, filetabOff},
		{"filetab", filetabOff, pctabOff},
		{"pctab", pctabOff, pclnOff},
		{"functab", pclnOff, ftabEnd},
		{"_func", ftabEnd, funcEnd},
		{"go:func.*", funcEnd, findfunc},
		{"findfunctab", findfunc, uint64(len(data))},
	}
	out := os.Stdout
	if addrsFile != "" {
		os.Stdout, _ = os.Open(os.DevNull)
	}
	fmt.Printf(".gopclntab at %#x, %d KiB, %d functions\n", base, sec.Size/1024, nfunc)
	fmt.Printf("%-12s %10s %10s %10s %6s %8s\n", "sub-table", "offset", "KiB", "rss KiB", "%", "64K-win")
	for _, s := range subs {
		n, tot := 0, 0
		wins := map[uint64]bool{}
		for p := (base + s.lo) / page; p <= (base+s.hi-1)/page; p++ {
			tot++
			if pageRes[p] {
				n++
				wins[p/16] = true
			}
		}
		fmt.Printf("%-12s %10d %10d %10d %6.0f %8d\n", s.name, s.lo, (s.hi-s.lo)/1024, n*4, 100*float64(n)/float64(tot), len(wins))
	}

	// The text address of the function table's first entry is .text's
	// start only if the linker put nothing before it; check.
	if fns[0].entry < text.Addr || fns[len(fns)-1].end > text.Addr+text.Size+page {
		fmt.Printf("warning: function entries %#x..%#x outside .text %#x..%#x\n", fns[0].entry, fns[len(fns)-1].end, text.Addr, text.Addr+text.Size)
	}

	// attribute distributes a resident range's bytes to a package.
	type acc struct{ res, tot uint64 }
	attribute := func(title string, rng func(f *fn) (uint64, uint64), isRes func(uint64) bool) map[string]*acc {
		by := map[string]*acc{}
		resFuncs := 0
		for i := range fns {
			f := &fns[i]
			lo, hi := rng(f)
			if hi <= lo {
				continue
			}
			a := by[f.pkg]
			if a == nil {
				a = &acc{}
				by[f.pkg] = a
			}
			a.tot += hi - lo
			touched := false
			for p := lo &^ (page - 1); p < hi; p += page {
				s, e := max(p, lo), min(p+page, hi)
				if isRes(p) {
					a.res += e - s
					touched = true
				}
			}
			if touched {
				resFuncs++
			}
		}
		var rs, ts uint64
		keys := make([]string, 0, len(by))
		for k, v := range by {
			keys = append(keys, k)
			rs += v.res
			ts += v.tot
		}
		sort.Slice(keys, func(i, j int) bool { return by[keys[i]].res > by[keys[j]].res })
		fmt.Printf("\n%s: bytes on resident pages by package (%d of %d functions have bytes on a resident page; %d of %d KiB)\n", title, resFuncs, len(fns), rs/1024, ts/1024)
		fmt.Printf("%10s %10s %5s  %s\n", "res KiB", "tot KiB", "%", "package")
		for i, k := range keys {
			if i == top {
				break
			}
			fmt.Printf("%10.1f %10.1f %5.0f  %s\n", float64(by[k].res)/1024, float64(by[k].tot)/1024, 100*float64(by[k].res)/float64(by[k].tot), k)
		}
		return by
	}
	secRes := func(o uint64) bool { return resAt(o) }
	attribute("pctab", func(f *fn) (uint64, uint64) { return f.pcLo, f.pcHi }, secRes)
	attribute("_func", func(f *fn) (uint64, uint64) { return f.funcOff, f.funcOff + f.funcLen }, secRes)
	attribute("funcnametab", func(f *fn) (uint64, uint64) { return f.nameOff, f.nameOff + f.nameLen }, secRes)
	textRes := map[uint64]bool{}
	for a := text.Addr &^ (page - 1); a < text.Addr+text.Size; a += page {
		textRes[a] = resident(a)
	}
	attribute(".text", func(f *fn) (uint64, uint64) { return f.entry, f.end }, func(a uint64) bool { return textRes[a] })

	if addrsFile != "" {
		os.Stdout = out
		gofunc := (funcEnd + 15) &^ 15
		type owner struct {
			off uint64
			f   *fn
		}
		var fd []owner // funcdata starts, section offsets
		var fo []owner // _func starts
		for i := range fns {
			f := &fns[i]
			fo = append(fo, owner{f.funcOff, f})
			npc := uint64(le.Uint32(data[f.funcOff+28:]))
			nfd := uint64(data[f.funcOff+43])
			for j := uint64(0); j < nfd; j++ {
				v := le.Uint32(data[f.funcOff+44+4*npc+4*j:])
				if v != ^uint32(0) {
					fd = append(fd, owner{gofunc + uint64(v), f})
				}
			}
		}
		var pc []owner // pcsp starts
		for i := range fns {
			if fns[i].pcHi > 0 {
				pc = append(pc, owner{fns[i].pcLo, &fns[i]})
			}
		}
		var nameo []owner
		for i := range fns {
			nameo = append(nameo, owner{fns[i].nameOff, &fns[i]})
		}
		for _, t := range [][]owner{fd, fo, pc, nameo} {
			sort.Slice(t, func(i, j int) bool { return t[i].off < t[j].off })
		}
		find := func(t []owner, o uint64) string {
			i := sort.Search(len(t), func(i int) bool { return t[i].off > o }) - 1
			if i < 0 {
				return "?"
			}
			return t[i].f.name
		}
		b, err := os.ReadFile(addrsFile)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fs := strings.SplitN(strings.TrimSpace(l), " ", 2)
			a, err := strconv.ParseUint(strings.TrimPrefix(fs[0], "0x"), 16, 64)
			if err != nil {
				continue
			}
			rest := ""
			if len(fs) > 1 {
				rest = fs[1]
			}
			where, who := "", ""
			switch {
			case a >= text.Addr && a < text.Addr+text.Size:
				where = ".text"
				i := sort.Search(len(fns), func(i int) bool { return fns[i].entry > a }) - 1
				if i >= 0 {
					who = fns[i].name
				}
			case a >= base && a < base+uint64(len(data)):
				o := a - base
				for _, s := range subs {
					if o >= s.lo && o < s.hi {
						where = s.name
					}
				}
				switch where {
				case "_func":
					who = find(fo, o)
				case "pctab":
					who = find(pc, o)
				case "go:func.*":
					who = find(fd, o)
				case "funcnametab":
					who = find(nameo, o)
				}
			default:
				continue
			}
			fmt.Printf("%#x %-12s %-60s %s\n", a, where, who, rest)
		}
		return nil
	}
	if listFuncs {
		fmt.Println("\nfunctions with pctab bytes on resident pages (pctab page, function)")
		for i := range fns {
			f := &fns[i]
			if f.pcHi > f.pcLo && (resAt(f.pcLo) || resAt(f.pcHi-1)) {
				fmt.Printf("pctab %6d %s\n", (base+f.pcLo)/page-(base+pctabOff)/page, f.name)
			}
		}
	}
	if nmFile != "" {
		return nmAttribute(nmFile, ef, resident, top)
	}
	return nil
}

// nmAttribute attributes resident pages of data sections to symbols' packages
// using go tool nm -size -sort address output.
func nmAttribute(path string, ef *elf.File, resident func(uint64) bool, top int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	type sym struct {
		addr, size uint64
		name       string
	}
	var syms []sym
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 {
			continue
		}
		a, err1 := strconv.ParseUint(fs[0], 16, 64)
		s, err2 := strconv.ParseUint(fs[1], 10, 64)
		if err1 != nil || err2 != nil || a == 0 {
			continue
		}
		syms = append(syms, sym{a, s, strings.Join(fs[3:], " ")})
	}
	for _, name := range []string{".rodata", ".typelink", ".itablink", ".noptrdata", ".data", ".go.buildinfo"} {
		sec := ef.Section(name)
		if sec == nil {
			continue
		}
		by := map[string][2]uint64{}
		for _, s := range syms {
			if s.addr < sec.Addr || s.addr >= sec.Addr+sec.Size || s.size == 0 {
				continue
			}
			key := pkgOf(s.name)
			if strings.HasPrefix(s.name, "type:") {
				key = "type:" + key
			}
			if strings.HasPrefix(s.name, "go:") {
				key = s.name
				if i := strings.IndexAny(key[3:], ".*"); i > 0 {
					key = key[:3+i]
				}
			}
			v := by[key]
			v[1] += s.size
			for p := s.addr &^ (page - 1); p < s.addr+s.size; p += page {
				if resident(p) {
					v[0] += min(p+page, s.addr+s.size) - max(p, s.addr)
				}
			}
			by[key] = v
		}
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return by[keys[i]][0] > by[keys[j]][0] })
		fmt.Printf("\n%s: symbol bytes on resident pages by package\n%10s %10s  %s\n", name, "res KiB", "tot KiB", "package")
		for i, k := range keys {
			if i == top {
				break
			}
			fmt.Printf("%10.1f %10.1f  %s\n", float64(by[k][0])/1024, float64(by[k][1])/1024, k)
		}
	}
	return nil
}
