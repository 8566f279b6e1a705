package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/app"
)

const tokenUsage = "usage: gantry token list | create NAME --role admin|editor|viewer [--project P] [--offline [--data DIR]] | revoke ID"

// tokenHeader is the table header of tokens.
var tokenHeader = []string{"ID", "NAME", "ROLE", "PROJECT", "CREATED"}

// tokenRow shows "-" for a token bound to no project (it sees every one).
func tokenRow(t client.Token) []string {
	project := t.Project
	if project == "" {
		project = "-"
	}
	return []string{t.ID, t.Name, t.Role, project, timeText(t.CreatedAt)}
}

func cmdToken(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, tokenUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	verb := args[0]
	var role, project string
	var offline bool
	var extra func(fs *flag.FlagSet)
	switch verb {
	case "create":
		extra = func(fs *flag.FlagSet) {
			fs.StringVar(&role, "role", "", "admin (everything, tokens included), editor (read and write the config) or viewer (read only)")
			fs.StringVar(&project, "project", "", "bind the token to a project: it sees and changes only that project's load balancers")
			fs.BoolVar(&offline, "offline", false, "write the token into the store of --data directly, for recovery; only while no gantry serve runs on it")
		}
	case "list", "revoke":
	default:
		fmt.Fprintf(stderr, "gantry token: unknown verb %q (want list, create or revoke)\n%s\n", verb, tokenUsage)
		return 2
	}
	g, pos, code := simpleCmd("token "+verb, args[1:], stderr, "table", extra)
	if code >= 0 {
		return code
	}
	return finish(func() error {
		if err := g.check(); err != nil {
			return err
		}
		out := printer{stdout, g.output}
		switch verb {
		case "list":
			if len(pos) != 0 {
				return usagef("token list takes no argument, got %q", pos[0])
			}
		case "create":
			if len(pos) != 1 {
				return usagef("token create takes one NAME")
			}
			if role == "" {
				return usagef("token create: --role admin|editor|viewer is required")
			}
			if offline && project != "" {
				return usagef("token create: --offline makes rescue tokens, bound to no project; drop --project")
			}
		case "revoke":
			if len(pos) != 1 {
				return usagef("token revoke takes one ID (see gantry token list)")
			}
		}
		ctx, cancel := withTimeout()
		defer cancel()
		if offline {
			nt, err := app.CreateTokenOffline(ctx, g.data, pos[0], role)
			if err != nil {
				return err
			}
			return printNewToken(out, stderr, nt)
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		switch verb {
		case "list":
			toks, err := c.ListTokens(ctx)
			if err != nil {
				return err
			}
			rows := make([][]string, len(toks))
			for i, t := range toks {
				rows[i] = tokenRow(t)
			}
			return out.print(toks, tokenHeader, rows)
		case "create":
			nt, err := c.CreateToken(ctx, client.TokenInput{Name: pos[0], Role: role, Project: project})
			if err != nil {
				return err
			}
			return printNewToken(out, stderr, *nt)
		default:
			if err := c.RevokeToken(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "token %s revoked\n", pos[0])
			return nil
		}
	}(), stderr, g)
}

// printNewToken prints a new token with its secret, which nothing will
// show again. JSON and YAML carry the secret in the document, and the
// warning goes to stderr so the output stays parseable.
func printNewToken(out printer, stderr io.Writer, nt client.NewToken) error {
	const warning = "This secret will not be shown again: store it now."
	if out.format != "table" {
		if err := out.print(nt, nil, nil); err != nil {
			return err
		}
		fmt.Fprintln(stderr, warning)
		return nil
	}
	if err := out.print(nil, tokenHeader, [][]string{tokenRow(nt.Token)}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out.w, "\nsecret: %s\n%s\n", nt.Secret, warning)
	return err
}
