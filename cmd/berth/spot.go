package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// spotCmd runs `berth spot interrupt [--notice 2m] [--data-dir DIR] ID...`:
// a Spot interruption for running Spot instances, sent to the daemon's
// EC2 endpoint (berth's SendSpotInstanceInterruptions action) with the
// credentials and endpoint berth wrote to the data dir.
func spotCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "interrupt" {
		return fmt.Errorf("usage: berth spot interrupt [--notice 2m] [--data-dir DIR] INSTANCE-ID...")
	}
	fs := newFlags("spot interrupt")
	dataDir := fs.String("data-dir", defaultDataDir(), "berth's data directory (its credentials and config files are used)")
	notice := fs.Duration("notice", 2*time.Minute, "time from the notice to termination (AWS: 2m)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ids := fs.Args()
	if len(ids) == 0 {
		return fmt.Errorf("usage: berth spot interrupt [--notice 2m] [--data-dir DIR] INSTANCE-ID...")
	}
	if *notice < 0 || *notice > time.Hour || *notice%time.Second != 0 {
		return fmt.Errorf("--notice must be whole seconds between 0s and 1h")
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithSharedCredentialsFiles([]string{filepath.Join(*dataDir, "credentials")}),
		config.WithSharedConfigFiles([]string{filepath.Join(*dataDir, "config")}),
		config.WithSharedConfigProfile("default"))
	if err != nil {
		return fmt.Errorf("reading berth's credentials in %s: %w", *dataDir, err)
	}
	if cfg.BaseEndpoint == nil {
		return fmt.Errorf("%s has no endpoint_url: has berth serve run with this data dir?", filepath.Join(*dataDir, "config"))
	}
	form := url.Values{"Action": {"SendSpotInstanceInterruptions"}, "Version": {"2016-11-15"},
		"NoticeSeconds": {strconv.Itoa(int(notice.Seconds()))}}
	for i, id := range ids {
		form.Set("InstanceId."+strconv.Itoa(i+1), id)
	}
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *cfg.BaseEndpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", cfg.Region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is berth serve running? %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errors []struct{ Code, Message string } `xml:"Errors>Error"`
		}
		if xml.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
			return fmt.Errorf("%s: %s", e.Errors[0].Code, e.Errors[0].Message)
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var ok struct {
		Items []struct {
			ID          string `xml:"instanceId"`
			TerminateAt string `xml:"instanceTerminationTime"`
		} `xml:"instancesSet>item"`
	}
	if err := xml.Unmarshal(raw, &ok); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	for _, it := range ok.Items {
		fmt.Fprintf(out, "%s\tterminates at %s\n", it.ID, it.TerminateAt)
	}
	return nil
}
