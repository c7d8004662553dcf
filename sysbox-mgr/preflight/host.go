package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sysboxd/sysboxd/sysbox-mgr/idpool"
)

// MinKernel is the oldest kernel Sysboxd runs on: ID-mapped mounts
// (mount_setattr, 5.12) and overlayfs on ID-mapped layers (5.19).
var MinKernel = [2]int{5, 19}

// beneathKernel is the first kernel with MOVE_MOUNT_BENEATH.
var beneathKernel = [2]int{6, 5}

// Host is what the checks look at. DefaultHost fills it for this machine;
// tests replace the functions and paths with fakes.
type Host struct {
	// Release returns the kernel release (uname -r).
	Release func() (string, error)
	// ReadFile reads a file (os.ReadFile).
	ReadFile func(string) ([]byte, error)
	// Statfs is unix.Statfs.
	Statfs func(string, *unix.Statfs_t) error
	// Docker runs "docker info --format FORMAT" and returns its output;
	// an error when Docker does not answer.
	Docker func(format string) (string, error)
	// Probes that need the kernel (and mostly root).
	Probes Probes

	SubidUser, SubuidFile, SubgidFile string
	// DataRoot is sysbox-mgr's --data-root (/var/lib/sysbox).
	DataRoot string
	// DockerRootDefault is Docker's data root when Docker does not answer.
	DockerRootDefault string
	CgroupRoot        string // /sys/fs/cgroup
	AppArmorEnabled   string // /sys/module/apparmor/parameters/enabled
	AppArmorProfiles  string // /sys/kernel/security/apparmor/profiles
	AppArmorProfile   string // the profile name system containers run under
}

// Probes are the kernel operations behind the checks. Each returns nil when
// the operation worked.
type Probes struct {
	// Userns creates a user namespace in a child process.
	Userns func() error
	// IDMap ID-maps a clone of the mount at path.
	IDMap func(path string) error
	// Overlay mounts an overlay of ID-mapped layers in a temporary
	// directory below dir, with the layers attached to the mount tree
	// first (attached) and as detached mounts (detached).
	Overlay func(dir string) (attached, detached error)
	// UserNotif asks for SECCOMP_RET_USER_NOTIF (SECCOMP_GET_ACTION_AVAIL).
	UserNotif func() error
	// OpenFuse opens /dev/fuse.
	OpenFuse func() error
	// MoveMountBeneath reports whether move_mount knows MOVE_MOUNT_BENEATH.
	MoveMountBeneath func() error
}

// DefaultHost describes this machine with sysbox-mgr's default paths.
func DefaultHost() *Host {
	return &Host{
		Release:           release,
		ReadFile:          os.ReadFile,
		Statfs:            unix.Statfs,
		Docker:            dockerInfo,
		Probes:            kernelProbes(),
		SubidUser:         "sysbox",
		SubuidFile:        "/etc/subuid",
		SubgidFile:        "/etc/subgid",
		DataRoot:          "/var/lib/sysbox",
		DockerRootDefault: "/var/lib/docker",
		CgroupRoot:        "/sys/fs/cgroup",
		AppArmorEnabled:   "/sys/module/apparmor/parameters/enabled",
		AppArmorProfiles:  "/sys/kernel/security/apparmor/profiles",
		AppArmorProfile:   "sysbox-container",
	}
}

func release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

func dockerInfo(format string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "info", "--format", format)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i]
		}
		return "", fmt.Errorf("docker info: %w %s", err, msg)
	}
	return strings.TrimSpace(string(out)), nil
}

// Checks returns the checks in the order they are printed.
func (h *Host) Checks() []Check {
	return []Check{
		{"kernel", true, h.checkKernel},
		{"user namespaces", true, h.checkUserns},
		{"subordinate ids", true, h.checkSubids},
		{"id-mapped mounts", true, h.checkIDMap},
		{"overlay on id-mapped layers", true, h.checkOverlay},
		{"seccomp user notification", true, h.checkUserNotif},
		{"fuse", true, h.checkFuse},
		{"mount beneath", false, h.checkBeneath},
		{"cgroup", true, h.checkCgroup},
		{"docker cgroup driver", false, h.checkDockerCgroupDriver},
		{"apparmor", false, h.checkAppArmor},
	}
}

// parseRelease returns major and minor of a kernel release such as
// "6.1.0-18-amd64" or "6.18.0+".
func parseRelease(rel string) (major, minor int, err error) {
	fields := strings.SplitN(rel, ".", 3)
	if len(fields) < 2 {
		return 0, 0, fmt.Errorf("kernel release %q is not MAJOR.MINOR...", rel)
	}
	major, err = strconv.Atoi(fields[0])
	if err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: major: %w", rel, err)
	}
	end := 0
	for end < len(fields[1]) && fields[1][end] >= '0' && fields[1][end] <= '9' {
		end++
	}
	minor, err = strconv.Atoi(fields[1][:end])
	if err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: minor: %w", rel, err)
	}
	return major, minor, nil
}

func atLeast(major, minor int, want [2]int) bool {
	return major > want[0] || major == want[0] && minor >= want[1]
}

func (h *Host) checkKernel() Result {
	rel, err := h.Release()
	if err != nil {
		return missing("%v", err)
	}
	major, minor, err := parseRelease(rel)
	if err != nil {
		return missing("%v", err)
	}
	if !atLeast(major, minor, MinKernel) {
		return missing("%s: %d.%d or later needed (ID-mapped overlay layers)", rel, MinKernel[0], MinKernel[1])
	}
	return ok("%s", rel)
}

// needsRoot turns a probe's permission error into a warning: the check
// could not tell.
func needsRoot(err error) (Result, bool) {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		if os.Geteuid() != 0 {
			return warn("not checked: needs root (%v)", err), true
		}
	}
	return Result{}, false
}

func (h *Host) checkUserns() Result {
	max := ""
	if b, err := h.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil {
		max = strings.TrimSpace(string(b))
		if max == "0" {
			return missing("user.max_user_namespaces is 0 (sysctl -w user.max_user_namespaces=15000)")
		}
	}
	if err := h.Probes.Userns(); err != nil {
		if r, skip := needsRoot(err); skip {
			return r
		}
		return missing("creating one failed: %v", err)
	}
	if max != "" {
		return ok("created one (user.max_user_namespaces=%s)", max)
	}
	return ok("created one")
}

func (h *Host) checkSubids() Result {
	uids, err := idpool.ReadSubidFile(h.SubuidFile, h.SubidUser)
	if err != nil {
		return missing("%v", err)
	}
	gids, err := idpool.ReadSubidFile(h.SubgidFile, h.SubidUser)
	if err != nil {
		return missing("%v", err)
	}
	n := min(uids.Size, gids.Size) / idpool.BlockSize
	detail := fmt.Sprintf("%s: uids %s, gids %s (%d containers of %d ids)",
		h.SubidUser, uids, gids, n, idpool.BlockSize)
	if n < 16 {
		return warn("%s: room for few containers", detail)
	}
	return ok("%s", detail)
}

// dataDirs are the directories whose filesystems must take ID-mapped
// mounts: sysbox-mgr's data root and Docker's (nearest existing parent when
// missing). The second result says where Docker's root came from.
func (h *Host) dataDirs() (dirs []string, note string) {
	dockerRoot, err := h.Docker("{{.DockerRootDir}}")
	if err != nil || dockerRoot == "" {
		dockerRoot = h.DockerRootDefault
		note = "; Docker not answering, assumed " + dockerRoot
	}
	seen := map[string]bool{}
	for _, d := range []string{h.DataRoot, dockerRoot} {
		d = existingParent(d)
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return dirs, note
}

// existingParent returns path, or its nearest ancestor that exists.
func existingParent(path string) string {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == "/" {
			return p
		}
	}
}

func (h *Host) fsName(path string) string {
	var st unix.Statfs_t
	if err := h.Statfs(path, &st); err != nil {
		return "?"
	}
	return fsTypeName(st.Type)
}

func fsTypeName(magic int64) string {
	switch uint32(magic) {
	case 0xef53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683e:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlay"
	case unix.CGROUP2_SUPER_MAGIC:
		return "cgroup2"
	case 0x2fc12fc1:
		return "zfs"
	}
	return fmt.Sprintf("0x%x", uint32(magic))
}

func (h *Host) checkIDMap() Result {
	dirs, note := h.dataDirs()
	var done []string
	for _, d := range dirs {
		if err := h.Probes.IDMap(d); err != nil {
			if r, skip := needsRoot(err); skip {
				return r
			}
			return missing("%s (%s): %v%s", d, h.fsName(d), err, note)
		}
		done = append(done, fmt.Sprintf("%s (%s)", d, h.fsName(d)))
	}
	return ok("%s%s", strings.Join(done, ", "), note)
}

func (h *Host) checkOverlay() Result {
	dir := existingParent(h.DataRoot)
	attached, detached := h.Probes.Overlay(dir)
	return overlayResult(dir, attached, detached)
}

// overlayResult judges the two overlay probes: layers attached to the mount
// tree first are what sysbox-runc needs; detached layers (taken by newer
// kernels) are reported for information.
func overlayResult(dir string, attached, detached error) Result {
	if attached != nil {
		if r, skip := needsRoot(attached); skip {
			return r
		}
		return missing("in %s: overlay of attached ID-mapped layers failed: %v", dir, attached)
	}
	if detached != nil {
		return ok("in %s: attached layers work; detached layers refused by this kernel (%v)", dir, detached)
	}
	return ok("in %s: attached and detached layers work", dir)
}

func (h *Host) checkUserNotif() Result {
	if err := h.Probes.UserNotif(); err != nil {
		return missing("SECCOMP_RET_USER_NOTIF not available: %v (kernel 5.0+, CONFIG_SECCOMP_FILTER)", err)
	}
	return ok("SECCOMP_RET_USER_NOTIF available")
}

func (h *Host) checkFuse() Result {
	if err := h.Probes.OpenFuse(); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			return missing("/dev/fuse: %v (modprobe fuse)", err)
		}
		if r, skip := needsRoot(err); skip {
			return r
		}
		return missing("/dev/fuse: %v", err)
	}
	return ok("/dev/fuse opened")
}

func (h *Host) checkBeneath() Result {
	if err := h.Probes.MoveMountBeneath(); err != nil {
		return warn("MOVE_MOUNT_BENEATH not available (%v, kernel 6.5+): a restarted sysbox-fs "+
			"cannot hand running containers' virtual files over; they keep the old ones until restarted", err)
	}
	return ok("MOVE_MOUNT_BENEATH available (sysbox-fs restarts hand running containers over)")
}

// cgroupVersion names the cgroup setup from the filesystem types of the
// cgroup root and of its "unified" directory.
func cgroupVersion(root, unified int64, unifiedErr error) (string, bool) {
	switch {
	case uint32(root) == unix.CGROUP2_SUPER_MAGIC:
		return "v2 (unified)", true
	case uint32(root) == unix.TMPFS_MAGIC && unifiedErr == nil && uint32(unified) == unix.CGROUP2_SUPER_MAGIC:
		return "v1 (hybrid: v1 controllers, v2 at unified/)", true
	case uint32(root) == unix.TMPFS_MAGIC:
		return "v1 (legacy)", true
	}
	return fmt.Sprintf("unknown: %s is %s", "cgroup root", fsTypeName(root)), false
}

func (h *Host) checkCgroup() Result {
	var root, unified unix.Statfs_t
	if err := h.Statfs(h.CgroupRoot, &root); err != nil {
		return missing("%v", err)
	}
	uerr := h.Statfs(filepath.Join(h.CgroupRoot, "unified"), &unified)
	v, known := cgroupVersion(root.Type, unified.Type, uerr)
	if !known {
		return missing("%s: not cgroup2 nor a tmpfs of v1 hierarchies", h.CgroupRoot)
	}
	return ok("%s", v)
}

// dockerDriverResult judges Docker's cgroup driver against the cgroup setup.
func dockerDriverResult(driver string, err error) Result {
	switch {
	case err != nil:
		return warn("not checked: %v", err)
	case driver == "systemd" || driver == "cgroupfs":
		return ok("%s", driver)
	case driver == "none":
		return warn("none: Docker runs without cgroups; containers get no limits")
	}
	return warn("unexpected driver %q", driver)
}

func (h *Host) checkDockerCgroupDriver() Result {
	return dockerDriverResult(h.Docker("{{.CgroupDriver}}"))
}

// profileLoaded reports whether the AppArmor profiles list (one
// "name (mode)" per line) holds name.
func profileLoaded(list []byte, name string) (mode string, loaded bool) {
	for _, line := range strings.Split(string(list), "\n") {
		n, m, found := strings.Cut(line, " (")
		if found && n == name {
			return strings.TrimSuffix(m, ")"), true
		}
	}
	return "", false
}

func (h *Host) checkAppArmor() Result {
	b, err := h.ReadFile(h.AppArmorEnabled)
	if err != nil || strings.TrimSpace(string(b)) != "Y" {
		return ok("not enabled in this kernel (not needed)")
	}
	list, err := h.ReadFile(h.AppArmorProfiles)
	if err != nil {
		if r, skip := needsRoot(err); skip {
			return r
		}
		return warn("enabled; cannot read %s: %v", h.AppArmorProfiles, err)
	}
	if mode, loaded := profileLoaded(list, h.AppArmorProfile); loaded {
		return ok("enabled; profile %s loaded (%s)", h.AppArmorProfile, mode)
	}
	return missing("enabled; profile %s not loaded (sysbox-mgr loads it when it starts, or: apparmor_parser -r -W /etc/apparmor.d/%s); "+
		"system containers then run under the engine's profile, which refuses their mounts", h.AppArmorProfile, h.AppArmorProfile)
}
