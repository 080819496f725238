# Thin wrappers over the npm scripts (the scripts are the source of truth).
.PHONY: install dev start test lint format check build migrate token bench

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
