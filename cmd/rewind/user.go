package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rewindhq/rewind/internal/auth"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

// userCmd manages users: add, set-password, list.
func userCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: rewind user add|set-password|list|local-login")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("rewind user "+sub, flag.ContinueOnError)
	role := fs.String("role", "viewer", "role everywhere: none, viewer, operator, approver or admin")
	var envRoles []string
	fs.Func("env-role", "ENV=ROLE: the role in one environment, replacing --role there (repeatable)", func(v string) error {
		envRoles = append(envRoles, v)
		return nil
	})
	dataDir := fs.String("data-dir", "", "data folder (REWIND_DATA_DIR)")
	cfgPath := fs.String("config", "", "YAML config file")
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	var cfgArgs []string
	if *dataDir != "" {
		cfgArgs = append(cfgArgs, "--data-dir", *dataDir)
	}
	if *cfgPath != "" {
		cfgArgs = append(cfgArgs, "--config", *cfgPath)
	}
	cfg, err := config.Load(cfgArgs, getenv)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "list":
		users, err := store.Users(ctx)
		if err != nil {
			return err
		}
		envs, err := store.Environments(ctx)
		if err != nil {
			return err
		}
		names := map[int64]string{}
		for _, e := range envs {
			names[e.ID] = e.Name
		}
		for _, u := range users {
			roles := string(u.Role)
			for _, e := range envs {
				if r, ok := u.EnvRoles[e.ID]; ok {
					roles += ", " + string(r) + " in " + names[e.ID]
				}
			}
			fmt.Fprintf(stdout, "%-24s %-6s %s\n", u.Username, u.Source, roles)
		}
		return nil
	case "local-login":
		// rewind user local-login on|off: the password form of local users,
		// as Settings → Sign-in sets it; on is the way back in when a
		// provider fails.
		if name != "on" && name != "off" {
			return errors.New("usage: rewind user local-login on|off")
		}
		ev := rewind.AuditEvent{Actor: "cli", Action: rewind.ActionSettingsChange, Outcome: "ok", Detail: "local passwords " + name + " (rewind user local-login)"}
		if err := store.SetSetting(ctx, "local_login", name, ev); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "local passwords: %s\n", name)
		return nil
	case "add", "set-password":
		if name == "" {
			return fmt.Errorf("usage: rewind user %s NAME", sub)
		}
		pw, generated, err := readPassword(stdin)
		if err != nil {
			return err
		}
		hash, err := auth.HashPassword(pw)
		if err != nil {
			return err
		}
		if sub == "add" {
			r, err := rewind.ParseGrant(*role)
			if err != nil {
				return err
			}
			per, err := parseEnvRoles(ctx, store, envRoles)
			if err != nil {
				return err
			}
			err = store.CreateUser(ctx, &rewind.User{Username: name, Role: r, EnvRoles: per, PasswordHash: hash})
			if err != nil {
				return err
			}
		} else {
			if err := store.SetPasswordHash(ctx, name, hash); err != nil {
				return err
			}
			n, err := store.DeleteUserSessions(ctx, name, "")
			if err != nil {
				return err
			}
			if n > 0 {
				fmt.Fprintf(stdout, "ended %d session(s) of %s\n", n, name)
			}
		}
		if generated {
			fmt.Fprintf(stdout, "password for %s: %s\n", name, pw)
		} else {
			fmt.Fprintf(stdout, "password for %s set\n", name)
		}
		return nil
	}
	return fmt.Errorf("unknown user command %q: use add, set-password, list or local-login", sub)
}

// parseEnvRoles reads --env-role values (ENV=ROLE) into roles by
// environment ID.
func parseEnvRoles(ctx context.Context, store *sqlite.Store, vals []string) (rewind.EnvRoles, error) {
	var per rewind.EnvRoles
	for _, v := range vals {
		name, role, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("--env-role %q: give ENV=ROLE, such as prod=approver", v)
		}
		env, err := store.EnvironmentByName(ctx, strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("--env-role %q: no environment named %q", v, name)
		}
		r, err := rewind.ParseGrant(role)
		if err != nil {
			return nil, err
		}
		if per == nil {
			per = rewind.EnvRoles{}
		}
		per[env.ID] = r
	}
	return per, nil
}

// readPassword takes a password from the first line of stdin, or generates one
// when stdin is empty.
func readPassword(stdin io.Reader) (pw string, generated bool, err error) {
	if stdin != nil {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, err
		}
		if pw = strings.TrimRight(line, "\r\n"); pw != "" {
			return pw, false, rewind.ValidatePassword(pw)
		}
	}
	return auth.GeneratePassword(), true, nil
}

// ensureAdmin creates the first admin when there is no user: with the
// password from REWIND_ADMIN_PASSWORD, or a generated one printed once.
func ensureAdmin(ctx context.Context, store *sqlite.Store, getenv func(string) string, stdout io.Writer) error {
	n, err := store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw := getenv("REWIND_ADMIN_PASSWORD")
	generated := pw == ""
	if generated {
		pw = auth.GeneratePassword()
	} else if err := rewind.ValidatePassword(pw); err != nil {
		return fmt.Errorf("REWIND_ADMIN_PASSWORD: %w", err)
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	if err := store.CreateUser(ctx, &rewind.User{Username: "admin", Role: rewind.RoleAdmin, PasswordHash: hash}); err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(stdout, "Created user admin with password: %s\n(shown once; change it in Settings)\n", pw)
	} else {
		fmt.Fprintln(stdout, "Created user admin with the password from REWIND_ADMIN_PASSWORD")
	}
	return nil
}
