package nacos

import (
	"fmt"
	"strings"
	"testing"
)

// recordingLogger keeps what the SDK would write.
type recordingLogger struct{ lines *[]string }

func (r recordingLogger) add(level string, s string)          { *r.lines = append(*r.lines, level+" "+s) }
func (r recordingLogger) Info(args ...interface{})            { r.add("INFO", fmt.Sprint(args...)) }
func (r recordingLogger) Warn(args ...interface{})            { r.add("WARN", fmt.Sprint(args...)) }
func (r recordingLogger) Error(args ...interface{})           { r.add("ERROR", fmt.Sprint(args...)) }
func (r recordingLogger) Debug(args ...interface{})           { r.add("DEBUG", fmt.Sprint(args...)) }
func (r recordingLogger) Infof(f string, args ...interface{}) { r.add("INFO", fmt.Sprintf(f, args...)) }
func (r recordingLogger) Warnf(f string, args ...interface{}) { r.add("WARN", fmt.Sprintf(f, args...)) }
func (r recordingLogger) Errorf(f string, args ...interface{}) {
	r.add("ERROR", fmt.Sprintf(f, args...))
}
func (r recordingLogger) Debugf(f string, args ...interface{}) {
	r.add("DEBUG", fmt.Sprintf(f, args...))
}

func TestWithholdingLoggerKeepsRequestDataOut(t *testing.T) {
	// Formats the SDK v2.3.2 really uses.
	tests := []struct {
		name     string
		log      func(l withholdingLogger)
		secret   string
		wantText string
	}{
		{"failed request body", func(l withholdingLogger) {
			l.Errorf("Send request fail, request=%s, body=%s, retryTimes=%v, error=%+v", "ConfigPublishRequest", `{"headers":{"accessToken":"tok-123"},"content":"password=hunter2"}`, 3, "timeout")
		}, "hunter2", "Send request fail"},
		{"http params", func(l withholdingLogger) {
			l.Errorf("request method[%s],request path[%s],header:[%s],params:[%s],err:%+v", "POST", "/nacos/v1/auth/login", "{}", `{"password":"pw-999"}`, "refused")
		}, "pw-999", "request method"},
		{"received content", func(l withholdingLogger) {
			l.Infof("[config_rpc_client] [data-received] dataId=%s, group=%s, tenant=%s, md5=%s, content=%s, type=%s", "a", "g", "", "m", "token: abc-777", "yaml")
		}, "abc-777", "data-received"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines []string
			tt.log(withholdingLogger{inner: recordingLogger{&lines}})
			got := strings.Join(lines, "\n")
			if strings.Contains(got, tt.secret) || !strings.Contains(got, tt.wantText) {
				t.Errorf("logged %q: want %q without %q", got, tt.wantText, tt.secret)
			}
		})
	}
	var lines []string
	withholdingLogger{inner: recordingLogger{&lines}}.Warnf("ConfigBatchListenRequest failure, error code:%d", 500)
	if got, want := strings.Join(lines, ""), "WARN ConfigBatchListenRequest failure, error code:500"; got != want {
		t.Errorf("harmless message logged as %q, want %q", got, want)
	}
}
