package nacostest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/nacos/nacostest"
)

func login(t *testing.T, srv *nacostest.Server, path string) string {
	t.Helper()
	resp, err := http.PostForm("http://"+srv.Addr()+"/nacos"+path,
		url.Values{"username": {srv.Username()}, "password": {srv.Password()}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"accessToken"`
		TokenTTL    int    `json:"tokenTtl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" || body.TokenTTL == 0 {
		t.Fatalf("login on %s: %v, %+v", path, err, body)
	}
	return body.AccessToken
}

func get(t *testing.T, srv *nacostest.Server, pathAndQuery, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+"/nacos"+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("accessToken", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpointsPerMode(t *testing.T) {
	const history = "/v1/cs/history?search=accurate&dataId=d&group=G&tenant=&pageNo=1&pageSize=10"
	tests := []struct {
		name     string
		opts     nacostest.Options
		path     string
		want     int
		withAuth bool
	}{
		{"v1 history needs a token", nacostest.Options{Mode: nacostest.Mode2}, history, http.StatusForbidden, false},
		{"v1 history on 2.x", nacostest.Options{Mode: nacostest.Mode2}, history, http.StatusOK, true},
		{"v1 history is gone on 3.x", nacostest.Options{Mode: nacostest.Mode3}, history, http.StatusGone, true},
		{"v2 history needs 2.2", nacostest.Options{Mode: nacostest.Mode2, Version: "2.1.0"}, "/v2/cs/history/list?dataId=d&group=G", http.StatusNotFound, true},
		{"v2 history on 2.3", nacostest.Options{Mode: nacostest.Mode2}, "/v2/cs/history/list?dataId=d&group=G", http.StatusOK, true},
		{"v3 history on 3.x", nacostest.Options{Mode: nacostest.Mode3}, "/v3/admin/cs/history/list?dataId=d&groupName=G", http.StatusOK, true},
		{"v3 history not on 2.x", nacostest.Options{Mode: nacostest.Mode2}, "/v3/admin/cs/history/list?dataId=d&groupName=G", http.StatusNotFound, true},
		{"server state is open", nacostest.Options{Mode: nacostest.Mode1}, "/v1/console/server/state", http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := nacostest.Start(t, tt.opts)
			token := ""
			if tt.withAuth {
				token = login(t, srv, "/v1/auth/users/login")
			}
			if got, body := get(t, srv, tt.path, token); got != tt.want {
				t.Errorf("GET %s = %d %s, want %d", tt.path, got, body, tt.want)
			}
		})
	}
}

func TestHistoryRowsAsNacosStoresThem(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{Mode: nacostest.Mode2})
	key := nacostest.Key{Group: "G", DataID: "d"}
	srv.Seed(key, "text", "a")
	srv.Publish(key, "b")
	token := login(t, srv, "/v1/auth/login")
	status, body := get(t, srv, "/v1/cs/history?search=accurate&dataId=d&group=G&pageNo=1&pageSize=10", token)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	var page struct {
		TotalCount     int `json:"totalCount"`
		PagesAvailable int `json:"pagesAvailable"`
		PageItems      []struct {
			ID      string  `json:"id"`
			OpType  string  `json:"opType"`
			Content *string `json:"content"`
		} `json:"pageItems"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	if page.TotalCount != 2 || page.PagesAvailable != 1 || len(page.PageItems) != 2 {
		t.Fatalf("page = %+v", page)
	}
	if got := page.PageItems[0].OpType; got != "U         " {
		t.Errorf("newest opType = %q, want a padded U", got)
	}
	if page.PageItems[0].Content != nil {
		t.Errorf("the list carries content; Nacos lists leave it out")
	}
	_, detail := get(t, srv, "/v1/cs/history?nid="+page.PageItems[0].ID+"&dataId=d&group=G", token)
	if !strings.Contains(detail, `"content":"a"`) {
		t.Errorf("U row detail = %s, want the content before the update", detail)
	}
}

func TestRefuseLoginRevokesTokens(t *testing.T) {
	srv := nacostest.Start(t, nacostest.Options{})
	token := login(t, srv, "/v1/auth/users/login")
	srv.Fail(nacostest.RefuseLogin)
	if status, _ := get(t, srv, "/v1/cs/configs?search=blur&dataId=&group=", token); status != http.StatusForbidden {
		t.Errorf("old token answered %d, want 403", status)
	}
	resp, err := http.PostForm("http://"+srv.Addr()+"/nacos/v1/auth/users/login",
		url.Values{"username": {srv.Username()}, "password": {srv.Password()}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login answered %d, want 403", resp.StatusCode)
	}
}
