// The function app's built-in authentication (App Service "Easy Auth", authsettingsV2) in front of
// the web page (issue 16): every request is refused unless the caller has signed in with
// Microsoft Entra ID in this tenant and is a member of one group. The app checks it again
// itself (HRUPLOAD_WEB_AUTH=entra, HRUPLOAD_WEB_GROUP in function.bicep): it trusts the
// principal headers only when the platform says Easy Auth is on (WEBSITE_AUTH_ENABLED).
//
// The app registration is not created here (Bicep's Microsoft Graph extension would need Graph
// rights the deployer rarely has): docs/deploy.md, "The web page", has the az steps. Until both
// clientId and allowedGroupId are set, authentication is still required but no sign-in exists,
// so every request except the excluded webhook is answered 401: the page is never open by
// accident, and a client ID without a group cannot let the whole tenant in.
//
// No client secret: the provider's client credential is the app's user-assigned identity,
// presented as a federated identity credential (clientSecretSettingName
// OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID, whose value function.bicep sets to the identity's
// client ID; Microsoft's "Use a managed identity instead of a secret" in Configure Microsoft
// Entra authentication, a preview, as in Azure-Samples/remote-mcp-functions-python).

@description('Name of the function app (function.bicep).')
param functionAppName string

@description('Application (client) ID of the web page\'s app registration; empty: no sign-in, every page request refused.')
param clientId string = ''

@description('Object ID of the Entra security group whose members may open the page; empty: no sign-in, every page request refused.')
param allowedGroupId string = ''

@description('Tenant that signs people in: the deployment\'s own.')
param tenantId string = tenant().tenantId

@description('Sign-in session length (hh:mm:ss) before Entra ID is asked again.')
param sessionLength string = '08:00:00'

var signInEnabled = !empty(clientId) && !empty(allowedGroupId)

// Event Grid delivers new-file events, and its validation handshake when the post-deploy hook
// creates the subscription, to the blob extension's webhook
// (https://<host>/runtime/webhooks/blobs?functionName=...&code=<blobs_extension key>,
// eventgrid-subscription.bicep). A system topic's webhook delivery carries that key in the URL
// and no Entra token, and Easy Auth runs before the Functions host, so without this exclusion
// every delivery and the handshake would get 401 and the subscription could not be created
// (reported in MicrosoftDocs/azure-docs#99036 for exactly this trigger). excludedPaths is
// authsettingsV2's documented list of "paths for which unauthenticated flow would not be
// redirected to the login page" (Microsoft.Web sites/config 'authsettingsV2' template
// reference); the query string is not part of the path. The host still checks the system key
// on this path, as before. Nothing else is excluded: the timer and the blob trigger need no
// inbound HTTP, and deployment (Flex one deploy), listKeys and trigger sync go through Azure
// Resource Manager and the scm endpoint, not the app's front end (the Microsoft sample named
// above is a Flex Consumption app deployed with azd behind requireAuthentication, no exclusions).
var webhookPaths = [
  '/runtime/webhooks/blobs'
]

// The group allowlist reads the token's groups claim (the registration's groupMembershipClaims,
// docs/deploy.md). The API has two places for it, defaultAuthorizationPolicy.allowedPrincipals
// .groups and jwtClaimChecks.allowedGroups, and Microsoft's how-to documents neither (only
// allowedPrincipals.identities); reports differ on which one the platform enforces
// (Azure/azure-sdk-for-net#38485). So the group is in both, and the app checks the same claim
// itself (HRUPLOAD_WEB_GROUP) whatever the platform does. (Comments inside an object stay
// within four lines: checkov's Bicep parser refuses more.)
var entraProvider = {
  enabled: true
  isAutoProvisioned: false
  registration: {
    // The tenant's v2.0 endpoint, in this cloud (login.microsoftonline.us in Azure Government).
    openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
    clientId: clientId
    clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
  }
  validation: {
    // Tokens issued to this registration only, for this registration only (the portal's
    // "allow requests only from this application itself").
    allowedAudiences: [
      clientId
    ]
    // Members of the group only, in both allowlists (above); a signed-in non-member gets 403.
    defaultAuthorizationPolicy: {
      allowedApplications: [
        clientId
      ]
      allowedPrincipals: {
        groups: [
          allowedGroupId
        ]
      }
    }
    jwtClaimChecks: {
      allowedGroups: [
        allowedGroupId
      ]
    }
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov runs its App Service 'web' config checks on every sites/config, this one too (the
  // skips as for the app settings in function.bicep, and CKV_AZURE_13 on the V1 shape).
  // checkov:skip=CKV_AZURE_13: a false positive: the check reads the V1 'authsettings' shape (properties.enabled); this V2 resource turns authentication on with platform.enabled, which CKV_AZURE_56 checks and passes.
  // checkov:skip=CKV_AZURE_80: .NET Framework version does not apply to a Python app.
  parent: app
  // checkov:skip=CKV_AZURE_63: HTTP (web server) logging is an App Service file-system log, not offered on Flex Consumption; invocations are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65: detailed error pages are an App Service feature, not offered on Flex Consumption; errors are logged to Application Insights.
  // checkov:skip=CKV_AZURE_66: failed request tracing is an App Service feature, not offered on Flex Consumption; failed invocations are logged and alerted on.
  name: 'authsettingsV2'
  // checkov:skip=CKV_AZURE_88: Flex Consumption has no Azure Files content share; the package is in a blob container.
  // checkov:skip=CKV_AZURE_222: as on the site: Event Grid delivers to the public endpoint, and the page is reached there too, behind this sign-in.
  properties: {
    platform: {
      enabled: true
      runtimeVersion: '~1'
    }
    globalValidation: {
      requireAuthentication: true
      // The page is opened in a browser by HR and compliance admins: an anonymous visit goes to
      // the Entra sign-in page and comes back, where a 401 would only show an error. Both refuse
      // the request before the app sees it. With no sign-in configured, a plain 401.
      unauthenticatedClientAction: signInEnabled ? 'RedirectToLoginPage' : 'Return401'
      excludedPaths: webhookPaths
    }
    httpSettings: {
      requireHttps: true
      routes: {
        apiPrefix: '/.auth'
      }
      forwardProxy: {
        convention: 'NoProxy'
      }
    }
    identityProviders: {
      azureActiveDirectory: signInEnabled ? entraProvider : { enabled: false }
    }
    login: {
      // The app reads only the principal headers Easy Auth injects, never a provider token, and
      // Flex Consumption has no shared file system for the file token store (the blob one
      // would need a SAS URL secret), so no token store.
      tokenStore: {
        enabled: false
      }
      preserveUrlFragmentsForLogins: false
      allowedExternalRedirectUrls: []
      cookieExpiration: {
        convention: 'FixedTime'
        timeToExpiration: sessionLength
      }
      nonce: {
        validateNonce: true
        nonceExpirationInterval: '00:05:00'
      }
    }
  }
}

output signInEnabled bool = signInEnabled
