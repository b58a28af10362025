package components

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"
	"k8s.io/klog/v2"
)

// Log files are rotated by size so that a long-lived cluster's logs stay
// bounded: at most (1+logBackups)*logMaxMegabytes per file.
const (
	logMaxMegabytes = 20
	logBackups      = 2
)

// redirectKlog sends the output of klog, the logger of every Kubernetes
// component, to logs/kube.log below dir instead of stderr, each line once.
// Only fatal messages still reach stderr, where the daemon collects the
// process's last words. klog is process-wide, like everything set here.
func redirectKlog(dir string) (flush func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &lumberjack.Logger{
		Filename:   filepath.Join(dir, "kube.log"),
		MaxSize:    logMaxMegabytes,
		MaxBackups: logBackups,
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for name, value := range map[string]string{
		"logtostderr":     "false",
		"alsologtostderr": "false",
		"one_output":      "true",
		"stderrthreshold": "FATAL",
	} {
		if err := fs.Set(name, value); err != nil {
			return nil, fmt.Errorf("setting klog flag %s: %w", name, err)
		}
	}
	klog.SetOutput(w)
	return klog.Flush, nil
}
