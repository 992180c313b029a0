//! The use cases the lifecycle harness drives (send a link, register, reset, toggle, sign in):
//! each runs one against the service and checks its outcome against the model's prediction.

use super::*;

impl Harness {
    pub(super) fn send_link(&mut self, who: Who, purpose: TokenPurpose) {
        let now = self.now();
        let client = self.account(who).client.clone();
        let state = self.account(who).state;
        let (outcome, expected, ttl) = match purpose {
            TokenPurpose::Invite => {
                let outcome = block_on(self.service.send_invite(&self.staff, &client));
                let expected = if state == State::NoAccount { Ok(()) } else { Err("AccountExists") };
                let outcome = outcome.map_err(|error| match error {
                    SendInviteError::AccountExists(_) => "AccountExists",
                    other => panic!("send_invite failed: {other:?}"),
                });
                (outcome, expected, self.policy.invite_ttl())
            }
            TokenPurpose::Reset => {
                let outcome = block_on(self.service.send_reset(&self.staff, &client));
                let expected = match state {
                    State::NoAccount => Err("NoAccount"),
                    State::Active => Ok(()),
                    State::Disabled => Err("AccountDisabled"),
                };
                let outcome = outcome.map_err(|error| match error {
                    SendResetError::Refused(refused) => match refused {
                        portal_core::account::ResetRefused::NoAccount => "NoAccount",
                        portal_core::account::ResetRefused::AccountDisabled => "AccountDisabled",
                    },
                    other => panic!("send_reset failed: {other:?}"),
                });
                (outcome, expected, self.policy.reset_ttl())
            }
        };
        assert_eq!(outcome.as_ref().map(|_| ()).map_err(|e| *e), expected, "send {purpose:?}");
        let Ok(sent) = outcome else { return };
        assert_eq!(sent.sent_at, now);
        assert_eq!(sent.expires_at, now + ttl, "a link must expire exactly at issued_at + ttl");
        let previous_live = self.links.iter().any(|l| {
            l.who == who && l.purpose == purpose && !l.dead && (purpose == TokenPurpose::Invite || now < l.expires_at)
        });
        let previous_any = self.links.iter().any(|l| l.who == who && l.purpose == purpose);
        let replaced = if purpose == TokenPurpose::Invite { previous_any } else { previous_live };
        assert_eq!(sent.replaced_previous, replaced, "replaced_previous of a {purpose:?}");
        self.kill_links(who, purpose);
        let text = key().link_token(purpose, sent.token_id).expose().expose_secret().to_owned();
        self.links.push(Link { who, purpose, token_id: sent.token_id, text, expires_at: sent.expires_at, dead: false });
    }

    pub(super) fn register(&mut self, link: LinkRef, name: Name, secret: Secret) {
        let (text, index) = self.resolve(link);
        let typed = name.typed();
        let username = match name {
            Name::Ada | Name::AdaShouting => Some("ada"),
            Name::Bob => Some("bob"),
            Name::Invalid => None,
        };
        let expected = match self.link_verdict(index, TokenPurpose::Invite) {
            Err(refused) => Err(refused),
            Ok(()) if username.is_none() => Err("InvalidUsername"),
            Ok(()) if secret.is_weak() => Err("WeakPassword"),
            Ok(()) if self.accounts.values().any(|a| a.username == username) => Err("UsernameTaken"),
            Ok(()) => Ok(()),
        };
        let outcome = block_on(self.service.register(&text, typed, &secret.password(), &RequestContext::default()));
        let shown = match &outcome {
            Ok(_) => Ok(()),
            Err(RegisterError::Refused(refused)) => Err(invite_name(refused)),
            Err(RegisterError::InvalidUsername(_)) => Err("InvalidUsername"),
            Err(RegisterError::WeakPassword(_)) => Err("WeakPassword"),
            Err(RegisterError::UsernameTaken) => Err("UsernameTaken"),
            Err(other) => panic!("register failed: {other:?}"),
        };
        assert_eq!(shown, expected, "register with {link:?} as {typed:?}");
        if let Ok(registered) = outcome {
            let who = self.genuine(index, TokenPurpose::Invite).expect("registered with a genuine invite").who;
            assert_eq!(Some(registered.username.as_str()), username);
            assert_eq!(registered.client_id, self.account(who).client);
            self.kill_links(who, TokenPurpose::Invite);
            let account = self.account_mut(who);
            (account.state, account.username, account.password) = (State::Active, username, Some(secret.index()));
            if let Some(username) = username {
                self.throttle.remove(username);
            }
        }
    }

    pub(super) fn complete_reset(&mut self, link: LinkRef, secret: Secret) {
        let (text, index) = self.resolve(link);
        let expected = match self.link_verdict(index, TokenPurpose::Reset) {
            Err(refused) => Err(refused),
            Ok(()) if secret.is_weak() => Err("WeakPassword"),
            Ok(()) => Ok(()),
        };
        let outcome = block_on(self.service.complete_reset(&text, &secret.password(), &RequestContext::default()));
        let shown = match &outcome {
            Ok(()) => Ok(()),
            Err(ResetError::Refused(refused)) => Err(redeem_name(refused)),
            Err(ResetError::WeakPassword(_)) => Err("WeakPassword"),
            Err(other) => panic!("complete_reset failed: {other:?}"),
        };
        assert_eq!(shown, expected, "complete_reset with {link:?}");
        if outcome.is_ok() {
            let who = self.genuine(index, TokenPurpose::Reset).expect("reset with a genuine link").who;
            assert_eq!(self.account(who).state, State::Active, "a reset completed on an account that is not active");
            self.kill_links(who, TokenPurpose::Reset);
            self.revoke_sessions(who);
            self.account_mut(who).password = Some(secret.index());
            if let Some(username) = self.account(who).username {
                self.throttle.remove(username);
            }
        }
    }

    pub(super) fn toggle(&mut self, who: Who, enable: bool) {
        let client = self.account(who).client.clone();
        let before = self.account(who).state;
        let outcome = block_on(self.service.set_enabled(&self.staff, &client, enable, None));
        match (&outcome, before) {
            (Err(ToggleError::Refused(_)), State::NoAccount) => return,
            (Ok(PortalStatus::Active { .. }), State::Active | State::Disabled) if enable => {}
            (Ok(PortalStatus::Disabled { .. }), State::Active | State::Disabled) if !enable => {}
            _ => panic!("set_enabled({enable}) from {before:?} gave {outcome:?}"),
        }
        let after = if enable { State::Active } else { State::Disabled };
        if before != after {
            if !enable {
                self.kill_links(who, TokenPurpose::Reset);
                self.revoke_sessions(who);
            }
            // A change clears the account's throttle key.
            if let Some(username) = self.account(who).username {
                self.throttle.remove(username);
            }
        }
        self.account_mut(who).state = after;
    }

    pub(super) fn sign_in(&mut self, name: Name, secret: Secret) {
        let now = self.now();
        let key = name.typed().to_lowercase();
        let counter = self.throttle.get(&key).copied().unwrap_or_default();
        let owner = self.accounts.iter().find(|(_, a)| a.username == Some(key.as_str())).map(|(who, a)| (*who, a));
        let right_password = owner.is_some_and(|(_, a)| a.password == Some(secret.index()));
        let decision = counter.decide(now, self.policy.throttle());
        let expected = match decision {
            ThrottleDecision::Wait { retry_after } => Err(format!("Throttled {retry_after:?}")),
            ThrottleDecision::Locked { .. } => Err("InvalidCredentials".to_owned()),
            ThrottleDecision::Allow => match owner.map(|(_, a)| a.state) {
                Some(State::Active) if right_password => Ok(()),
                Some(State::Disabled) if right_password => Err("AccountDisabled".to_owned()),
                _ => Err("InvalidCredentials".to_owned()),
            },
        };
        let outcome =
            block_on(self.service.sign_in(SLUG, name.typed(), &secret.password(), &RequestContext::default()));
        let shown = match &outcome {
            Ok(_) => Ok(()),
            Err(SignInError::Throttled { retry_after }) => Err(format!("Throttled {retry_after:?}")),
            Err(SignInError::InvalidCredentials) => Err("InvalidCredentials".to_owned()),
            Err(SignInError::AccountDisabled) => Err("AccountDisabled".to_owned()),
            Err(SignInError::Infrastructure(error)) => panic!("sign_in failed: {error:?}"),
            // No account of the model has a second factor, and its practice leaves them optional.
            Err(SignInError::SecondFactor(_)) => panic!("sign_in asked for a second factor nobody enrolled"),
        };
        assert_eq!(shown, expected, "sign in as {key:?} with password {} at {now}", secret.index());
        match outcome {
            Ok(signed_in) => {
                let (who, _) = owner.expect("signed in to an account");
                assert_eq!(signed_in.expires_at, now + self.policy.session_idle());
                self.throttle.remove(&key);
                let token = signed_in.token.expose().expose_secret().to_owned();
                self.sessions.push(ModelSession { who, token, created_at: now, last_seen_at: now, revoked: false });
            }
            Err(SignInError::InvalidCredentials) if decision == ThrottleDecision::Allow => {
                let entry = self.throttle.entry(key).or_default();
                entry.failures = entry.failures.saturating_add(1);
                entry.last_failure_at = Some(now);
            }
            Err(_) => {}
        }
    }
}
