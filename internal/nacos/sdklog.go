package nacos

import (
	"strings"
	"sync"

	sdklogger "github.com/nacos-group/nacos-sdk-go/v2/common/logger"
)

// The SDK writes its log (in the client's log folder) through one global logger, which it
// replaces each time a client is created. Some of its messages carry a request's body,
// headers or parameters: config content, the access token, a login form. withholdingLogger
// wraps the SDK's logger and keeps the arguments of such messages out of the log.

// sdkLoggerMu serialises creating SDK clients and wrapping the logger each one installs.
var sdkLoggerMu sync.Mutex

// withholdLogArgs wraps the SDK's current logger; call it with sdkLoggerMu held, right after
// creating an SDK client.
func withholdLogArgs() {
	cur := sdklogger.GetLogger()
	if cur == nil {
		return
	}
	if _, ok := cur.(withholdingLogger); ok {
		return
	}
	sdklogger.SetLogger(withholdingLogger{inner: cur})
}

// withholdingLogger passes messages on, but writes the format of a message that may hold
// request data without its arguments.
type withholdingLogger struct {
	inner sdklogger.Logger
}

// revealing lists the words of SDK log formats whose arguments may hold request data.
var revealing = []string{"body", "param", "header", "content", "request=", "password", "token"}

// withheld reports whether a format's arguments must be left out.
func withheld(format string) bool {
	lower := strings.ToLower(format)
	for _, w := range revealing {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

func (l withholdingLogger) Info(args ...interface{})  { l.inner.Info(args...) }
func (l withholdingLogger) Warn(args ...interface{})  { l.inner.Warn(args...) }
func (l withholdingLogger) Error(args ...interface{}) { l.inner.Error(args...) }
func (l withholdingLogger) Debug(args ...interface{}) { l.inner.Debug(args...) }

func (l withholdingLogger) Infof(format string, args ...interface{}) {
	if withheld(format) {
		l.inner.Info(withheldMessage(format))
		return
	}
	l.inner.Infof(format, args...)
}

func (l withholdingLogger) Warnf(format string, args ...interface{}) {
	if withheld(format) {
		l.inner.Warn(withheldMessage(format))
		return
	}
	l.inner.Warnf(format, args...)
}

func (l withholdingLogger) Errorf(format string, args ...interface{}) {
	if withheld(format) {
		l.inner.Error(withheldMessage(format))
		return
	}
	l.inner.Errorf(format, args...)
}

func (l withholdingLogger) Debugf(format string, args ...interface{}) {
	if withheld(format) {
		l.inner.Debug(withheldMessage(format))
		return
	}
	l.inner.Debugf(format, args...)
}

// withheldMessage is the format of a message whose arguments were left out.
func withheldMessage(format string) string {
	return "(details withheld by Rewind) " + format
}
