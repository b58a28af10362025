package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// Benchmarks report their figures with b.ReportMetric; run them with
// `make bench` (one iteration each: every one does its own repetitions).
// Results go to docs/benchmarks.md.

// BenchmarkCreateClusterToActive measures CreateCluster to ACTIVE as a
// client sees it (the describe hold returns as soon as the state changes),
// several times in a row on one daemon, each cluster deleted after. Between
// runs it waits until the daemon's warm control plane is ready again, as it
// is when a user creates a cluster now and then.
func BenchmarkCreateClusterToActive(b *testing.B) {
	benchCreate(b, true)
}

// BenchmarkCreateClusterToActiveCold is the same without warm control
// planes (--warm-control-planes 0): each cluster starts its own.
func BenchmarkCreateClusterToActiveCold(b *testing.B) {
	benchCreate(b, false)
}

func benchCreate(b *testing.B, warm bool) {
	skipShort(b)
	const runs = 7
	var d *daemon
	if warm {
		d = startDaemon(b, "")
	} else {
		d = startDaemon(b, "", "--warm-control-planes", "0")
	}
	c := d.eks(b)
	subnets := d.subnets(b)
	ctx := context.Background()
	var times []time.Duration
	for range b.N {
		for i := range runs {
			if warm {
				d.waitWarm(b)
			}
			name := fmt.Sprintf("bench-%d", i)
			start := time.Now()
			if _, err := c.CreateCluster(ctx, createInput(name, subnets)); err != nil {
				b.Fatal(err)
			}
			waitActive(b, c, name, 2*time.Minute)
			times = append(times, time.Since(start))
			if _, err := c.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(name)}); err != nil {
				b.Fatal(err)
			}
			waitDeleted(b, c, name, time.Minute)
		}
	}
	reportSpread(b, times, "create to ACTIVE")
}

// reportSpread reports the median, min and max of repeated timings.
func reportSpread(b *testing.B, times []time.Duration, what string) {
	slices.Sort(times)
	b.ReportMetric(times[len(times)/2].Seconds(), "median-s")
	b.ReportMetric(times[0].Seconds(), "min-s")
	b.ReportMetric(times[len(times)-1].Seconds(), "max-s")
	b.Logf("%s over %d runs: %v", what, len(times), times)
}

// BenchmarkIdleClusterRSS creates clusters, lets them settle, and reports
// the resident memory of each control-plane process (all components).
func BenchmarkIdleClusterRSS(b *testing.B) {
	skipShort(b)
	const clusters = 3
	settle := 60 * time.Second
	if s := os.Getenv("BERTH_BENCH_SETTLE"); s != "" {
		settle, _ = time.ParseDuration(s)
	}
	d := startDaemon(b, "")
	c := d.eks(b)
	subnets := d.subnets(b)
	ctx := context.Background()
	for range b.N {
		for i := range clusters {
			if _, err := c.CreateCluster(ctx, createInput(fmt.Sprintf("idle-%d", i), subnets)); err != nil {
				b.Fatal(err)
			}
		}
		for i := range clusters {
			waitActive(b, c, fmt.Sprintf("idle-%d", i), 3*time.Minute)
		}
		time.Sleep(settle)
		var total, maxRSS, pss, anon float64
		for i := range clusters {
			pid, ok := d.controlPlanePID(fmt.Sprintf("idle-%d", i))
			if !ok {
				b.Fatal("no pid file")
			}
			mb := rssMB(b, pid)
			total += mb
			maxRSS = max(maxRSS, mb)
			pss += smapsMB(b, pid, "Pss:")
			anon += smapsMB(b, pid, "Anonymous:")
		}
		b.ReportMetric(total/clusters, "MB/cluster")
		b.ReportMetric(maxRSS, "max-MB")
		// RSS counts the berth binary's pages, which every control plane
		// and the daemon share (PSS divides them), and how many of them
		// are resident depends on the page cache: right after the binary
		// is linked its pages are large folios, mapped whole.
		b.ReportMetric(pss/clusters, "PSS-MB/cluster")
		b.ReportMetric(anon/clusters, "anon-MB/cluster")
		b.ReportMetric(rssMB(b, d.cmd.Process.Pid), "daemon-MB")
	}
}

// smapsMB is a field of /proc/PID/smaps_rollup in MB.
func smapsMB(b testing.TB, pid int, field string) float64 {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in smaps_rollup", field)
	return 0
}

func rssMB(b testing.TB, pid int) float64 {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkDescribeCluster drives DescribeCluster from concurrent clients,
// each request signed with SigV4 (aws-sdk-go-v2's signer) and verified by
// berth, and reports throughput and latency percentiles.
func BenchmarkDescribeCluster(b *testing.B) {
	skipShort(b)
	const workers = 16
	dur := 10 * time.Second
	d := startDaemon(b, "")
	c := d.eks(b)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, createInput("target", d.subnets(b))); err != nil {
		b.Fatal(err)
	}
	waitActive(b, c, "target", 2*time.Minute)
	creds, err := loadCreds(d)
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + d.listen + "/clusters/target"
	emptyHash := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for range b.N {
		var mu sync.Mutex
		var lat []time.Duration
		errs := 0
		deadline := time.Now().Add(dur)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				signer := v4.NewSigner()
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
				var mine []time.Duration
				bad := 0
				for time.Now().Before(deadline) {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					start := time.Now()
					if err := signer.SignHTTP(ctx, creds, req, emptyHash, "eks", "us-east-1", start); err != nil {
						bad++
						continue
					}
					resp, err := client.Do(req)
					if err != nil {
						bad++
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						bad++
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				errs += bad
				mu.Unlock()
			}()
		}
		wg.Wait()
		if errs > 0 {
			b.Fatalf("%d failed requests", errs)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(len(lat))/dur.Seconds(), "req/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

func loadCreds(d *daemon) (aws.Credentials, error) {
	raw, err := os.ReadFile(filepath.Join(d.dataDir, "credentials"))
	if err != nil {
		return aws.Credentials{}, err
	}
	var cr aws.Credentials
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			cr.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			cr.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	return cr, nil
}
