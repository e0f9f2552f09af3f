package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

func (s *Server) tokensView(c echo.Context, service bool) (templates.TokensView, error) {
	ctx := c.Request().Context()
	v := templates.TokensView{CSRF: csrfToken(c), Title: "Profile: " + currentUser(c).Username, Path: "/profile/tokens", Service: service}
	owner := currentUser(c).Username
	if service {
		v.Title, v.Path, owner = "Service tokens", "/settings/tokens", ""
	}
	var err error
	if v.Tokens, err = s.store.Tokens(ctx, owner); err != nil {
		return v, err
	}
	if v.Envs, err = s.store.Environments(ctx); err != nil {
		return v, err
	}
	v.EnvName = map[int64]string{}
	for _, e := range v.Envs {
		v.EnvName[e.ID] = e.Name
	}
	if !service {
		if v.Notify, err = s.profileNotify(c); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (s *Server) renderTokens(c echo.Context, status int, v templates.TokensView) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	active := "profile"
	if v.Service {
		active = "settings"
	}
	return s.render(c, status, s.meta(c, v.Title, active), templates.TokensPage(v))
}

func (s *Server) profileShow(c echo.Context) error {
	v, err := s.tokensView(c, false)
	if err != nil {
		return err
	}
	return s.renderTokens(c, http.StatusOK, v)
}

func (s *Server) serviceTokensShow(c echo.Context) error {
	v, err := s.tokensView(c, true)
	if err != nil {
		return err
	}
	return s.renderTokens(c, http.StatusOK, v)
}

// tokenCreate makes a token and shows it once, on this response only.
func (s *Server) tokenCreate(service bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		u := currentUser(c)
		t := &rewind.APIToken{Name: c.FormValue("name"), ReadOnly: c.FormValue("read_only") == "1", CreatedBy: u.Username}
		var err error
		if service {
			t.Role = rewind.Role(c.FormValue("role"))
			if t.EnvRoles, err = s.envRolesForm(c); err != nil {
				return err
			}
			form, _ := c.FormParams()
			for _, e := range form["environment"] {
				if id, err := strconv.ParseInt(e, 10, 64); err == nil {
					t.Environments = append(t.Environments, id)
				}
			}
		} else {
			t.Username = u.Username
		}
		days, err := strconv.Atoi(c.FormValue("days"))
		if err != nil || days < 0 || days > 3650 {
			days = -1
		}
		if days > 0 {
			exp := timeNow().UTC().Add(time.Duration(days) * 24 * time.Hour)
			t.ExpiresAt = &exp
		}
		v, err := s.tokensView(c, service)
		if err != nil {
			return err
		}
		if days < 0 {
			v.Error = "The expiry is a number of days from 0 to 3650."
			return s.renderTokens(c, http.StatusUnprocessableEntity, v)
		}
		if err := rewind.ValidateToken(t, timeNow()); err != nil {
			v.Error = rewind.ErrorMessage(err)
			return s.renderTokens(c, http.StatusUnprocessableEntity, v)
		}
		secret, hash := rewind.NewTokenSecret()
		t.Prefix = secret[:len(rewind.TokenPrefix)+4]
		ev := rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionTokenCreate, Target: "token:" + t.Name, Outcome: "ok", Detail: tokenDetail(t)}
		if err := s.store.CreateToken(ctx, t, hash, ev); err != nil {
			if rewind.ErrorCode(err) == rewind.ECONFLICT {
				v.Error = rewind.ErrorMessage(err)
				return s.renderTokens(c, http.StatusConflict, v)
			}
			return err
		}
		if v, err = s.tokensView(c, service); err != nil {
			return err
		}
		v.Created = secret
		return s.renderTokens(c, http.StatusOK, v)
	}
}

func tokenDetail(t *rewind.APIToken) string {
	d := "personal token of " + t.Username
	if t.Service() {
		d = "service token with role " + string(t.Role)
		if len(t.EnvRoles) > 0 {
			b, _ := json.Marshal(t.EnvRoles)
			d += ", per environment " + string(b)
		}
	}
	if t.ReadOnly {
		d += ", read-only"
	}
	if t.ExpiresAt != nil {
		d += ", expires " + t.ExpiresAt.Format(time.RFC3339)
	}
	return d
}

// tokenRevoke revokes one of the user's tokens, or (admins) a service token.
func (s *Server) tokenRevoke(service bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		u := currentUser(c)
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		t, err := s.store.Token(ctx, id)
		if err != nil {
			return err
		}
		if (service && !t.Service()) || (!service && t.Username != u.Username) {
			return rewind.Errorf(rewind.ENOTFOUND, "API token not found.")
		}
		ev := rewind.AuditEvent{Actor: u.Username, Action: rewind.ActionTokenRevoke, Target: "token:" + t.Name, Outcome: "ok"}
		if err := s.store.RevokeToken(ctx, id, ev); err != nil {
			return err
		}
		flash(c, 's', "Token "+t.Name+" revoked.")
		back := "/profile"
		if service {
			back = "/settings/tokens"
		}
		return redirect(c, back)
	}
}
