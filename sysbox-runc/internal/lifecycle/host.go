package lifecycle

import (
	"os"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"

	"github.com/sysboxd/sysboxd/sysbox-runc/internal/syscont"
)

// KnownCaps lists every capability the running kernel knows, by OCI name
// ("CAP_CHOWN", ...): container root gets all of them inside its user
// namespace.
func KnownCaps() []string {
	last, err := capability.LastCap()
	var names []string
	for _, c := range capability.ListKnown() {
		if err != nil || c <= last {
			names = append(names, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	return names
}

// callerOOMScoreAdj is the runtime's own oom_score_adj: host root here lacks
// CAP_SYS_RESOURCE, so the container's init cannot go below it.
func callerOOMScoreAdj() int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return v
}

// appArmorProfilesFile lists the AppArmor profiles loaded in the kernel, one per line
// ("name (mode)"); it exists only where AppArmor is enabled.
const appArmorProfilesFile = "/sys/kernel/security/apparmor/profiles"

// LoadedAppArmorProfile returns syscont.AppArmorProfile when the host's kernel has that
// profile loaded, and "" otherwise (AppArmor off, securityfs not mounted, or the profile
// missing).
func LoadedAppArmorProfile() string {
	return loadedProfile(appArmorProfilesFile, syscont.AppArmorProfile)
}

// loadedProfile returns name if the profiles file lists it.
func loadedProfile(profilesFile, name string) string {
	b, err := os.ReadFile(profilesFile)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if n, _, _ := strings.Cut(line, " ("); n == name {
			return name
		}
	}
	return ""
}
