package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/securechat/scca/chat"
	"github.com/securechat/scca/chat/cluster"
)

// Cluster flags of `scca chat server` and `scca revoke` (docs/CLUSTER.md).

func addBrokerFlags(f *pflag.FlagSet) {
	f.String("broker", "", "NATS URL linking the chat servers of one inventory, nats://[USER:PASS@]HOST:4222 (docs/CLUSTER.md)")
	f.String("broker-creds", "", "NATS credentials file (JWT and NKey seed)")
	f.String("broker-tls-ca", "", "CA certificate(s) to verify the NATS server's TLS certificate")
	f.String("broker-prefix", cluster.DefaultPrefix, "NATS subject prefix of this cluster (several clusters may share one NATS)")
}

func (e *env) brokerConfig(node string, log *slog.Logger) cluster.Config {
	return cluster.Config{URL: e.v.GetString("broker"), Node: node, CredsFile: e.v.GetString("broker-creds"),
		CAFile: e.v.GetString("broker-tls-ca"), Prefix: e.v.GetString("broker-prefix"), Logger: log}
}

// chatCluster connects to --broker, if given, and returns the cluster and
// ticket settings of the server, and a function that leaves the cluster.
func (e *env) chatCluster(log *slog.Logger) (chat.ClusterConfig, chat.TicketConfig, func(), error) {
	var tickets chat.TicketConfig
	if path := e.v.GetString("ticket-secret-file"); path != "" {
		secret, err := readTicketSecret(path)
		if err != nil {
			return chat.ClusterConfig{}, tickets, nil, err
		}
		tickets.Secret = secret
	}
	if e.v.GetString("broker") == "" {
		return chat.ClusterConfig{}, tickets, func() {}, nil
	}
	node := e.v.GetString("node")
	if node == "" {
		host, err := os.Hostname()
		if err != nil {
			return chat.ClusterConfig{}, tickets, nil, fmt.Errorf("node name: %w", err)
		}
		node = host
	}
	b, err := cluster.Connect(e.brokerConfig(node, log))
	if err != nil {
		return chat.ClusterConfig{}, tickets, nil, err
	}
	tickets.Spent = b.Spender(chat.DefaultTicketLifetime)
	return chat.ClusterConfig{Broker: b}, tickets, b.Close, nil
}

// readTicketSecret reads the cluster's ticket secret: a file only its owner
// may read, like a private key, of at least 32 bytes.
func readTicketSecret(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ticket secret: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ticket secret %s: mode %v lets others read it (want 0600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ticket secret: %w", err)
	}
	if len(b) < 32 {
		return nil, errors.New("ticket secret: " + path + " holds fewer than 32 bytes")
	}
	return b, nil
}

// hintRevocation tells the cluster's chat servers to apply a revocation
// now; without --broker they notice it at their next poll anyway.
func (e *env) hintRevocation() {
	if e.v.GetString("broker") == "" {
		return
	}
	if err := cluster.HintRevocation(e.brokerConfig("", nil), 2*time.Second); err != nil {
		fmt.Fprintf(e.stderr, "scca: warning: chat servers not told at once (they poll within a second): %v\n", err)
		return
	}
	e.statusf("  chat servers told through %s\n", cluster.Redact(e.v.GetString("broker")))
}
