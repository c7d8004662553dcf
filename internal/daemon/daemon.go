package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// LogConfig is what the daemons' --log-* flags set.
type LogConfig struct {
	Level  string // logrus level name: debug, info, warn, error
	Format string // text or json
	File   string // empty: stderr
}

// NewLogger builds the daemon's logger. It returns a closer for the log file.
func NewLogger(cfg LogConfig) (*logrus.Logger, io.Closer, error) {
	log := logrus.New()
	level, err := logrus.ParseLevel(cfg.Level)
	if err != nil {
		return nil, nil, fmt.Errorf("--log-level %q: %w", cfg.Level, err)
	}
	log.SetLevel(level)
	switch cfg.Format {
	case "", "text":
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	case "json":
		log.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, nil, fmt.Errorf("--log-format %q: want text or json", cfg.Format)
	}
	var closer io.Closer = io.NopCloser(nil)
	if cfg.File != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.File), 0o755); err != nil {
			return nil, nil, fmt.Errorf("create log dir: %w", err)
		}
		f, err := os.OpenFile(cfg.File, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file: %w", err)
		}
		log.SetOutput(f)
		closer = f
	}
	return log, closer, nil
}

// NotifyReady tells systemd (Type=notify) that the daemon is ready, when
// NOTIFY_SOCKET is set (go-systemd's sd_notify). Without it, it does nothing.
func NotifyReady() error {
	if _, err := sddaemon.SdNotify(false, sddaemon.SdNotifyReady); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// SignalContext returns a context cancelled on SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
}
