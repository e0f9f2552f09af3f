package signin

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/postgres/pgtest"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/secret"
	"github.com/rewindhq/rewind/internal/sqlite"
)

var shopMapping = Mapping{
	{Group: "shop-leads", Role: rewind.RoleOperator, Environments: map[string]rewind.Role{"prod": rewind.RoleApprover}},
	{Group: "shop-devs", Environments: map[string]rewind.Role{"dev": rewind.RoleOperator, "staging": rewind.RoleViewer}},
	{Group: "contractors", Role: rewind.RoleViewer, Environments: map[string]rewind.Role{"prod": rewind.RoleNone}},
	{Group: "rewind-admins", Role: rewind.RoleAdmin},
}

func TestMappingRoles(t *testing.T) {
	envs := []*rewind.Environment{{ID: 1, Name: "dev"}, {ID: 2, Name: "staging"}, {ID: 3, Name: "prod"}}
	for _, tc := range []struct {
		groups     []string
		everywhere rewind.Role
		per        rewind.EnvRoles
		ok         bool
	}{
		{[]string{"shop-leads"}, rewind.RoleOperator, rewind.EnvRoles{3: rewind.RoleApprover}, true},
		{[]string{"shop-devs"}, rewind.RoleNone, rewind.EnvRoles{1: rewind.RoleOperator, 2: rewind.RoleViewer}, true},
		{[]string{"contractors"}, rewind.RoleViewer, rewind.EnvRoles{3: rewind.RoleNone}, true},
		// The highest role of any group counts, environment by environment.
		{[]string{"contractors", "shop-devs"}, rewind.RoleViewer, rewind.EnvRoles{1: rewind.RoleOperator, 3: rewind.RoleNone}, true},
		{[]string{"SHOP-LEADS", "rewind-admins"}, rewind.RoleAdmin, nil, true},
		{[]string{"marketing"}, rewind.RoleNone, nil, false},
		{nil, rewind.RoleNone, nil, false},
	} {
		everywhere, per, ok := shopMapping.Roles(tc.groups, envs)
		if everywhere != tc.everywhere || !equalRoles(per, tc.per) || ok != tc.ok {
			t.Errorf("%v: got %s %v %v, want %s %v %v", tc.groups, everywhere, per, ok, tc.everywhere, tc.per, tc.ok)
		}
	}
	if err := shopMapping.Validate([]string{"dev", "staging"}); rewind.ErrorCode(err) != rewind.EINVALID {
		t.Errorf("a mapping naming an unknown environment: %v", err)
	}
	if err := (Mapping{{Group: "x", Role: "boss"}}).Validate(nil); err == nil {
		t.Error("a mapping with an unknown role passed")
	}
}

// newStore opens a store on name: a SQLite file, or a PostgreSQL URL.
func newStore(t *testing.T, name string) *sqlite.Store {
	t.Helper()
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), name, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, name := range []string{"dev", "staging", "prod"} {
		if err := store.SaveEnvironment(context.Background(), &rewind.Environment{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// A person is made a user at their first sign-in with the roles of their
// groups; removed from the groups, they are refused at their next sign-in,
// and their sessions and tokens end; back in a group, they sign in again.
func TestAdmitAndDisable(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAdmitAndDisable(t, newStore(t, filepath.Join(t.TempDir(), "rewind.db"))) })
	t.Run("postgres", func(t *testing.T) { testAdmitAndDisable(t, newStore(t, pgtest.NewStore(t))) })
}

func testAdmitAndDisable(t *testing.T, store *sqlite.Store) {
	ctx := context.Background()
	svc := New(store, shopMapping)
	id := Identity{Source: rewind.SourceOIDC, Subject: "https://dex.example.com|CgVsZW5hMRIEbGRhcA", Username: "lena",
		DisplayName: "李娜 Lena", Email: "lena@example.com", Groups: []string{"shop-leads"}}
	u, err := svc.Admit(ctx, id, "Dex", "10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := store.EnvironmentByName(ctx, "prod")
	dev, _ := store.EnvironmentByName(ctx, "dev")
	if u.RoleIn(prod.ID) != rewind.RoleApprover || u.RoleIn(dev.ID) != rewind.RoleOperator || u.Email != "lena@example.com" {
		t.Fatalf("lena: %s in prod, %s in dev, e-mail %q", u.RoleIn(prod.ID), u.RoleIn(dev.ID), u.Email)
	}
	stored, err := store.UserByName(ctx, "lena")
	if err != nil || stored.Source != rewind.SourceOIDC || stored.RoleIn(prod.ID) != rewind.RoleApprover || stored.DisplayName != "李娜 Lena" {
		t.Fatalf("stored lena: %+v, %v", stored, err)
	}
	// A session and a token of hers.
	now := time.Now().UTC()
	recheck := now.Add(10 * time.Minute)
	if err := store.CreateSession(ctx, &rewind.Session{ID: "s1", UserID: u.ID, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour),
		Source: rewind.SourceOIDC, RefreshToken: "refresh-1", RecheckAt: &recheck}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := store.RecheckedSession(ctx, "s1", "refresh-2", recheck.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ss, su, err := store.SessionUser(ctx, "s1")
	if err != nil || ss.Source != rewind.SourceOIDC || ss.RefreshToken != "refresh-2" || ss.RecheckAt == nil || su.RoleIn(prod.ID) != rewind.RoleApprover {
		t.Fatalf("lena's session: %+v, %+v, %v", ss, su, err)
	}
	var sealed []byte
	if err := store.DB().QueryRowContext(ctx, `SELECT refresh_enc FROM sessions WHERE id = 's1'`).Scan(&sealed); err != nil || strings.Contains(string(sealed), "refresh-2") {
		t.Errorf("the refresh token is stored in the clear: %q %v", sealed, err)
	}
	tok := &rewind.APIToken{Name: "laptop", Username: "lena", Prefix: "rwd_x", CreatedBy: "lena"}
	_, hash := rewind.NewTokenSecret()
	if err := store.CreateToken(ctx, tok, hash, rewind.AuditEvent{Actor: "lena", Action: rewind.ActionTokenCreate}); err != nil {
		t.Fatal(err)
	}

	id.Groups = []string{"marketing"}
	if _, err := svc.Admit(ctx, id, "Dex", "10.1.2.3"); err != ErrNoRole {
		t.Fatalf("out of every mapped group: %v, want ErrNoRole", err)
	}
	stored, _ = store.UserByName(ctx, "lena")
	if stored.DisabledAt == nil || stored.RoleIn(prod.ID) != rewind.RoleNone || stored.Reaches(rewind.RoleViewer) {
		t.Errorf("lena not disabled: %+v", stored)
	}
	if _, _, err := store.SessionUser(ctx, "s1"); rewind.ErrorCode(err) != rewind.ENOTFOUND {
		t.Errorf("her session survived: %v", err)
	}
	if tok, _ = store.Token(ctx, tok.ID); tok.RevokedAt == nil {
		t.Error("her token was not revoked")
	}
	evs, _, _ := store.Audit(ctx, rewind.AuditFilter{Actor: "lena"})
	if len(evs) == 0 || evs[0].Action != rewind.ActionUserDisable || evs[0].Detail == "" {
		t.Errorf("no audit of the disabling: %+v", evs)
	}

	id.Groups = []string{"contractors"}
	if u, err = svc.Admit(ctx, id, "Dex", "10.1.2.3"); err != nil || u.DisabledAt != nil || u.RoleIn(prod.ID) != rewind.RoleNone || u.RoleIn(dev.ID) != rewind.RoleViewer {
		t.Fatalf("back as a contractor: %+v, %v", u, err)
	}

	// Another provider's person with the same username is not lena.
	other := Identity{Source: rewind.SourceLDAP, Subject: "uid=lena,ou=people,dc=example,dc=com", Username: "lena", Groups: []string{"rewind-admins"}}
	if _, err := svc.Admit(ctx, other, "", "10.1.2.4"); rewind.ErrorCode(err) != rewind.ECONFLICT {
		t.Errorf("a second lena from LDAP: %v, want a conflict", err)
	}
	// A username Rewind cannot take is refused with the reason.
	bad := Identity{Source: rewind.SourceOIDC, Subject: "x|1", Username: "lena li", Groups: []string{"shop-leads"}}
	if _, err := svc.Admit(ctx, bad, "Dex", ""); rewind.ErrorCode(err) != rewind.EFORBIDDEN {
		t.Errorf("username with a space: %v", err)
	}
}
