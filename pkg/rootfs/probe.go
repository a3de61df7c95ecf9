package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// CheckIDMap tries, inside dir (which must exist), what user namespaces
// need of the root filesystems: a writable overlay over two idmapped
// layers. It leaves nothing behind and returns why it failed.
func CheckIDMap(dir string) (err error) {
	tmp, err := os.MkdirTemp(dir, ".idmap-probe-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	m := []IDMap{{ContainerID: 0, HostID: 1 << 30, Size: 65536}}
	ns, err := NewUserNS(m, m)
	if err != nil {
		return err
	}
	defer ns.Close()
	d := func(n string) string { return filepath.Join(tmp, n) }
	for _, n := range []string{"l1", "l2", "upper", "work", "target"} {
		if err := os.Mkdir(d(n), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(d("l1/f"), nil, 0o644); err != nil {
		return err
	}
	if err := os.Chown(d("upper"), 1<<30, 1<<30); err != nil {
		return err
	}
	o := Overlay{Lower: []string{d("l1"), d("l2")}, Upper: d("upper"), Work: d("work"), IDMapUserNS: "/proc/self/fd/" + fmtInt(int(ns.Fd()))}
	if err := Mount(o, d("target")); err != nil {
		return err
	}
	defer func() {
		if uerr := Unmount(d("target")); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	fi, err := os.Stat(d("target/f"))
	if err != nil {
		return err
	}
	if uid := statUID(fi); uid != 1<<30 {
		return fmt.Errorf("idmapped layer shows uid %d, want %d", uid, 1<<30)
	}
	return nil
}

func fmtInt(n int) string { return strconv.Itoa(n) }
