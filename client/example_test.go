package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gantry-lb/gantry/client"
)

// A read-modify-write that fails instead of overwriting someone else's
// change, and prints the wrong fields of a rejected write.
func Example() {
	ctx := context.Background()
	c, err := client.New("http://127.0.0.1:9980", "TOKEN")
	if err != nil {
		panic(err)
	}
	_, rev, err := c.GetLB(ctx, "web")
	if err != nil {
		panic(err)
	}
	_, _, err = c.PutBackend(ctx, "web", "api", client.BackendInput{
		ForwardProtocol: client.ProtocolHTTP,
		Servers:         client.ServerList(client.Server{IP: "10.0.0.8", Port: 8000}),
	}, client.IfMatch(rev), client.WaitApplied())
	var e *client.Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusPreconditionFailed:
		fmt.Println("the config changed since revision", rev)
	case errors.As(err, &e):
		for _, f := range e.Problem.Errors {
			fmt.Println(f.Field, f.Detail)
		}
	case err != nil:
		panic(err)
	}
}
