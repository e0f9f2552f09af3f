package nacostest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/rewindhq/rewind/internal/nacos/nacostest"
)

func TestStandInServesTLS(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2, TLS: true})
	if srv.CAFile() == "" || srv.URL() != "https://"+srv.Addr() {
		t.Fatalf("CAFile %q, URL %q; want a CA file and an https URL", srv.CAFile(), srv.URL())
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	tests := []struct {
		name   string
		client *http.Client
		url    string
		wantOK bool
	}{
		{"trusting the CA", &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, srv.URL(), true},
		{"not trusting it", &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}, srv.URL(), false},
		{"plain HTTP", http.DefaultClient, "http://" + srv.Addr(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Get(tt.url + "/nacos/v1/console/server/state")
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				resp.Body.Close()
			}
			if ok != tt.wantOK {
				t.Errorf("GET server state: %v (%v), want ok %v", resp, err, tt.wantOK)
			}
		})
	}
	// gRPC takes a TLS handshake with the same certificate.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, srv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})), grpc.WithBlock())
	if err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	conn.Close()
}
