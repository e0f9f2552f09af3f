package nacostest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// testCA makes a certificate authority for one stand-in and a server
// certificate it signed for 127.0.0.1 and localhost. It returns the server's
// TLS settings and the authority's certificate as PEM.
func testCA() (*tls.Config, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nacostest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "nacostest"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

// setupTLS gives the server its own authority and certificate, and writes
// the authority to a file in a temporary folder.
func (s *Server) setupTLS() error {
	cfg, caPEM, err := testCA()
	if err != nil {
		return fmt.Errorf("make test CA: %w", err)
	}
	s.tls, s.caPEM = cfg, caPEM
	s.caFile = filepath.Join(s.t.TempDir(), "nacostest-ca.pem")
	return os.WriteFile(s.caFile, caPEM, 0o600)
}

// httpTLS is the server's TLS settings for its HTTP port.
func (s *Server) httpTLS() *tls.Config {
	cfg := s.tls.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return cfg
}

// CAFile is the PEM file of the authority that signed the certificate of a
// server started with Options.TLS; "" otherwise.
func (s *Server) CAFile() string { return s.caFile }

// CAPEM is the authority of CAFile, as PEM.
func (s *Server) CAPEM() []byte { return s.caPEM }

// URL is the address to register in Rewind with its scheme: https:// for a
// server started with Options.TLS, http:// otherwise.
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}
