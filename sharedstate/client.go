package sharedstate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/redis/rueidis"

	"github.com/govgate/govgate/gateway"
)

// Connect opens a client to the Redis the config names and checks that it answers. The
// credentials are read from the environment variables the config names; neither they nor
// the variables' values appear in an error.
func Connect(ctx context.Context, cfg gateway.SharedRedis) (rueidis.Client, error) {
	opt, err := clientOption(cfg)
	if err != nil {
		return nil, err
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("connect redis %v (%s): %w", cfg.Addrs, cfg.Mode, err)
	}
	pctx, cancel := context.WithTimeout(ctx, max(cfg.Timeout, cfg.DialTimeout))
	defer cancel()
	if err := c.Do(pctx, c.B().Ping().Build()).Error(); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping redis %v: %w", cfg.Addrs, err)
	}
	return c, nil
}

// clientOption is the rueidis option of the config.
func clientOption(cfg gateway.SharedRedis) (rueidis.ClientOption, error) {
	opt := rueidis.ClientOption{
		InitAddress: cfg.Addrs,
		// Client-side caching is for reads; every command here writes.
		DisableCache: true,
		ClientName:   "govgate",
	}
	opt.Dialer.Timeout = cfg.DialTimeout
	switch cfg.Mode {
	case gateway.RedisStandalone:
		opt.ForceSingleClient = true
	case gateway.RedisSentinel:
		opt.Sentinel.MasterSet = cfg.SentinelMaster
		opt.Sentinel.Dialer.Timeout = cfg.DialTimeout
	case gateway.RedisCluster:
	default:
		return opt, fmt.Errorf("shared.redis.mode %q is not standalone, cluster or sentinel", cfg.Mode)
	}
	var err error
	if opt.Username, err = fromEnv("shared.redis.username_env", cfg.UsernameEnv); err != nil {
		return opt, err
	}
	if opt.Password, err = fromEnv("shared.redis.password_env", cfg.PasswordEnv); err != nil {
		return opt, err
	}
	if cfg.TLS.Enabled() {
		if opt.TLSConfig, err = tlsConfig(cfg.TLS); err != nil {
			return opt, err
		}
		opt.Sentinel.TLSConfig = opt.TLSConfig
	}
	return opt, nil
}

// fromEnv reads the variable name; a variable named but empty is an error naming the
// field and the variable, never a value.
func fromEnv(field, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s: environment variable %s is not set or empty", field, name)
	}
	return v, nil
}

// tlsConfig verifies Redis against the CA file (the system roots without one) and
// presents the client pair when given.
func tlsConfig(t gateway.SharedTLS) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("shared.redis.tls.ca %s: %w", t.CA, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("shared.redis.tls.ca %s: %w", t.CA, errors.New("no PEM certificate in it"))
		}
	}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("shared.redis.tls cert %s / key %s: %w", t.Cert, t.Key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
