package main

import (
	"context"
	"fmt"
	"io"

	"github.com/rewindhq/rewind/internal/config"
)

// migrate applies the store's migrations and exits.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(args, getenv)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(stdout, "history store is up to date:", storeName(cfg))
	return nil
}
