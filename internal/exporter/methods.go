package exporter

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/godbus/dbus/v5"
)

// Call is one incoming method call.
type Call struct {
	Ctx    context.Context
	Path   dbus.ObjectPath
	Sender dbus.Sender
	Args   []any // decoded to the types the Method declared
}

// Method is a D-Bus method of a domain interface: In holds one value of each
// argument's Go type (its D-Bus signature follows), Handle does the work.
type Method struct {
	In     []any
	Handle func(c *Call) ([]any, error)
}

// Error is a D-Bus error with one of the org.storaged.Storaged.Error names.
type Error struct {
	Name string
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given D-Bus error name.
func Errorf(name, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Name: name, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// toDBusError maps any error to a *dbus.Error, which is what godbus sends
// as is; everything not otherwise named is Failed, and deadlines Timedout.
func toDBusError(err error) *dbus.Error {
	var e *Error
	var de *dbus.Error
	switch {
	case errors.As(err, &e):
		return dbus.NewError(e.Name, []any{e.Msg})
	case errors.As(err, &de):
		return de
	case errors.Is(err, context.DeadlineExceeded):
		return dbus.NewError(ErrorTimedout, []any{err.Error()})
	default:
		return dbus.NewError(ErrorFailed, []any{err.Error()})
	}
}

// boundMethod is a Method bound to the object it was looked up on; it
// decodes its own arguments so it sees the sender and the path.
type boundMethod struct {
	m    *Method
	path dbus.ObjectPath
	ctx  context.Context
	e    *Exporter
}

func (b *boundMethod) DecodeArguments(_ *dbus.Conn, sender string, _ *dbus.Message, body []any) ([]any, error) {
	args, err := decodeArgs(b.m.In, body)
	if err != nil {
		return nil, err
	}
	return []any{&Call{Ctx: b.ctx, Path: b.path, Sender: dbus.Sender(sender), Args: args}}, nil
}

func (b *boundMethod) Call(args ...any) ([]any, error) {
	call, ok := args[0].(*Call)
	if !ok {
		return nil, dbus.ErrMsgInvalidArg
	}
	out, err := b.m.Handle(call)
	// The reply follows the signals of what the call changed.
	b.e.signals.flushed(b.ctx)
	if err != nil {
		return nil, toDBusError(err)
	}
	return out, nil
}

func (b *boundMethod) NumArguments() int       { return len(b.m.In) }
func (b *boundMethod) NumReturns() int         { return 0 }
func (b *boundMethod) ArgumentValue(i int) any { return b.m.In[i] }
func (b *boundMethod) ReturnValue(i int) any   { return nil }

// funcMethod adapts a plain function to dbus.Method for the standard
// interfaces the exporter implements itself.
type funcMethod struct {
	in []any
	fn func(sender dbus.Sender, args []any) ([]any, *dbus.Error)
}

func (f *funcMethod) DecodeArguments(_ *dbus.Conn, sender string, _ *dbus.Message, body []any) ([]any, error) {
	args, err := decodeArgs(f.in, body)
	if err != nil {
		return nil, err
	}
	return append([]any{dbus.Sender(sender)}, args...), nil
}

func (f *funcMethod) Call(args ...any) ([]any, error) {
	out, err := f.fn(args[0].(dbus.Sender), args[1:])
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (f *funcMethod) NumArguments() int       { return len(f.in) }
func (f *funcMethod) NumReturns() int         { return 0 }
func (f *funcMethod) ArgumentValue(i int) any { return f.in[i] }
func (f *funcMethod) ReturnValue(i int) any   { return nil }

// decodeArgs stores a call's body into values of the types of in, so a
// caller that sends the wrong signature gets InvalidArgs, never a panic.
func decodeArgs(in []any, body []any) ([]any, error) {
	if len(body) != len(in) {
		return nil, dbus.ErrMsgInvalidArg
	}
	ptrs := make([]any, len(in))
	for i, v := range in {
		ptrs[i] = reflect.New(reflect.TypeOf(v)).Interface()
	}
	if err := dbus.Store(body, ptrs...); err != nil {
		return nil, dbus.ErrMsgInvalidArg
	}
	args := make([]any, len(ptrs))
	for i, p := range ptrs {
		args[i] = reflect.ValueOf(p).Elem().Interface()
	}
	return args, nil
}
