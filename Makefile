# Thin wrappers over the npm scripts (the scripts are the source of truth).
.PHONY: install dev start test lint format check build migrate token bench \
        lint-openapi client-generate secrets dev-up dev-down dev-clean logs dev-migrate dev-token

install: ; npm install
dev: ; npm run dev
start: ; npm start
test: ; npm test
lint: ; npm run lint
format: ; npm run format
check: ; npm run check
build: ; npm run build
migrate: ; npm run migrate
bench: ; npm run bench
# make token EMAIL=a@b.c NAME="A"
token: ; npm run token -- --email "$(EMAIL)" $(if $(NAME),--name "$(NAME)")
lint-openapi: ; npm run lint:openapi
client-generate: ; npm run client:generate

# The compose stack (compose.yaml; README "Operations"). Only Docker is needed on the machine.
COMPOSE ?= docker compose
SECRETS := deploy/secrets

# An RS256 key pair for the stack (PKCS#8 private key, SPKI public key), made once. The private
# key is readable by the container's `node` user whatever the host uid owning the file: it signs
# tokens for this local stack only; production keys come from the platform's secret store.
secrets: $(SECRETS)/jwt_private.pem $(SECRETS)/jwt_public.pem
$(SECRETS)/jwt_private.pem:
	@mkdir -p $(@D)
	openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $@
	chmod 0644 $@
$(SECRETS)/jwt_public.pem: $(SECRETS)/jwt_private.pem
	openssl pkey -in $< -pubout -out $@

dev-up: secrets ; $(COMPOSE) up -d --build
dev-down: ; $(COMPOSE) down
# Also deletes the volumes: every database, stream and vector of the stack.
dev-clean: ; $(COMPOSE) down --volumes
# make logs [SERVICE=api]
logs: ; $(COMPOSE) logs --follow --tail=100 $(SERVICE)
# Migrations already run on every `dev-up` (the one-shot `migrate` service); this runs them again.
dev-migrate: ; $(COMPOSE) run --rm migrate
# make dev-token EMAIL=a@b.c [NAME="A"]: a token signed by the stack's key (dev-login is off in production)
dev-token: ; $(COMPOSE) exec -T api node dist/cli/token.js --email "$(EMAIL)" $(if $(NAME),--name "$(NAME)")
