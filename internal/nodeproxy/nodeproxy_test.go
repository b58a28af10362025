package nodeproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/server/egressselector"
)

// proxy serves a Server on a socket in a temporary directory and returns
// the socket and the addresses it was asked to dial.
func proxy(t *testing.T, dial DialFunc) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "np")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "p.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := New(dial, nil)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return sock
}

// apiserverDialer is the dialer kube-apiserver builds for the "cluster"
// egress from the configuration EgressConfig writes.
func apiserverDialer(t *testing.T, sock string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "egress.yaml")
	if err := os.WriteFile(path, EgressConfig(sock), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := egressselector.ReadEgressSelectorConfiguration(path)
	if err != nil {
		t.Fatal(err)
	}
	if errs := egressselector.ValidateEgressSelectorConfiguration(cfg); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	sel, err := egressselector.NewEgressSelector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dial, err := sel.Lookup(egressselector.Cluster.AsNetworkContext())
	if err != nil || dial == nil {
		t.Fatalf("cluster egress: %v %v", dial, err)
	}
	return dial
}

func TestTunnel(t *testing.T) {
	var asked []string
	sock := proxy(t, func(_ context.Context, addr string) (net.Conn, error) {
		asked = append(asked, addr)
		if addr != "10.0.1.23:10250" {
			return nil, errors.New("no node at " + addr)
		}
		client, server := net.Pipe()
		go func() { // an echo server that upper-cases a line
			defer server.Close()
			line, err := bufio.NewReader(server).ReadString('\n')
			if err != nil {
				return
			}
			server.Write([]byte(strings.ToUpper(line)))
		}()
		return client, nil
	})
	dial := apiserverDialer(t, sock)
	c, err := dial(context.Background(), "tcp", "10.0.1.23:10250")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello kubelet\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "HELLO KUBELET\n" {
		t.Fatalf("tunnel returned %q", got)
	}
	c.Close()

	_, err = dial(context.Background(), "tcp", "10.9.9.9:10250")
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("dial to no node: %v", err)
	}
	if len(asked) != 2 || asked[1] != "10.9.9.9:10250" {
		t.Fatalf("dialled %v", asked)
	}
}

func TestOnlyConnect(t *testing.T) {
	sock := proxy(t, func(context.Context, string) (net.Conn, error) { t.Fatal("dialled"); return nil, nil })
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://proxy/anything")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET answered %s", resp.Status)
	}
}

func TestEgressConfigQuotesPath(t *testing.T) {
	if !strings.Contains(string(EgressConfig(`/tmp/a "b".sock`)), `udsName: "/tmp/a \"b\".sock"`) {
		t.Fatalf("path not quoted:\n%s", EgressConfig(`/tmp/a "b".sock`))
	}
}
