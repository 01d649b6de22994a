# azd postdeploy hook for Windows shells (pwsh): subscribe the blob trigger to Event Grid.
# The same steps as scripts/postdeploy.sh, which explains why the hook, not main.bicep, owns the
# subscription; change both together (tests/test_infra.py checks that they match).
#
# azd runs it after `azd up` / `azd deploy` with the deployment's outputs in the environment.
# To run it by hand: azd hooks run postdeploy
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$root = Split-Path -Parent $PSScriptRoot
$waitAttempts = if ($env:HRUPLOAD_KEY_WAIT_ATTEMPTS) { [int]$env:HRUPLOAD_KEY_WAIT_ATTEMPTS } else { 30 }
$waitSeconds = if ($env:HRUPLOAD_KEY_WAIT_SECONDS) { [int]$env:HRUPLOAD_KEY_WAIT_SECONDS } else { 10 }
$retry = "then run 'azd hooks run postdeploy'"

function Fail([string]$message, [int]$code = 1) {
    [Console]::Error.WriteLine($message)
    if ($errFile) { Remove-Item -Force $errFile -ErrorAction SilentlyContinue }
    exit $code
}
$errFile = $null

$names = @('AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME',
    'HR_STORAGE_ACCOUNT_NAME', 'HR_INCOMING_CONTAINER', 'HR_DEAD_LETTER_CONTAINER',
    'HR_EVENTGRID_SYSTEM_TOPIC_NAME', 'HR_BLOB_FUNCTION_NAME')
$missing = @($names | Where-Object { -not [Environment]::GetEnvironmentVariable($_) })
if ($missing.Count -gt 0) {
    Fail "postdeploy: not set: $($missing -join ' '). Run through azd (azd deploy), or set them from 'azd env get-values'." 2
}
$group = $env:AZURE_RESOURCE_GROUP
$app = $env:AZURE_FUNCTION_APP_NAME
$account = $env:HR_STORAGE_ACCOUNT_NAME

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Fail "postdeploy: the Azure CLI (az) is needed to create the Event Grid subscription. Install it, run 'az login', $retry (docs/deploy.md)."
}

# Runs az; returns its output, or $null on failure with the error text in $script:azError.
$script:azError = ''
$errFile = (New-TemporaryFile).FullName
function Invoke-Az([string[]]$arguments) {
    $script:azError = ''
    $ErrorActionPreference = 'Continue'  # az's stderr is read below, not thrown
    $out = & az @arguments 2>$errFile
    $code = $LASTEXITCODE
    if ($code -ne 0) {
        $script:azError = (Get-Content -Raw $errFile) + ''
        return $null
    }
    return (($out | Out-String) + '').Trim()
}

# Why the last az call failed, as one line that says what to do; '' when it is none of these
# (then the caller waits or reports az's own error). Only ARM's error codes count: a function
# host that is still starting answers with other errors, and the key loop waits those out.
function Explain([string]$action, [string]$what) {
    if ($script:azError -match 'AuthorizationFailed|does not have authorization') {
        return "postdeploy: the signed-in account may not $action in resource group $group (AuthorizationFailed): it needs Contributor there (Owner, or Contributor plus Role Based Access Control Administrator, for 'azd provision'); ask for it, $retry."
    }
    if ($script:azError -match 'az login|AADSTS') {
        return "postdeploy: the Azure CLI's sign-in is missing or expired: run 'az login', $retry."
    }
    if ($script:azError -match 'ResourceGroupNotFound|ResourceNotFound') {
        return "postdeploy: $what does not exist in resource group ${group}: run 'azd provision' (or 'azd up'), $retry."
    }
    return ''
}

# 1. Signed in at all.
if ($null -eq (Invoke-Az @('account', 'show', '--query', 'id', '--output', 'tsv'))) {
    Fail "postdeploy: the Azure CLI is not signed in: run 'az login' (a pipeline: 'az login --service-principal ...'), $retry."
}

# 2. The subscription azd deployed to, visible to that sign-in.
$sub = @()
if ($env:AZURE_SUBSCRIPTION_ID) {
    if ($null -eq (Invoke-Az @('account', 'show', '--subscription', $env:AZURE_SUBSCRIPTION_ID, '--query', 'id', '--output', 'tsv'))) {
        Fail "postdeploy: subscription $($env:AZURE_SUBSCRIPTION_ID) (azd's AZURE_SUBSCRIPTION_ID) is not one the Azure CLI's sign-in can use: 'az login --tenant <tenant of that subscription>' with an account that has access, $retry."
    }
    $sub = @('--subscription', $env:AZURE_SUBSCRIPTION_ID)
} else {
    Write-Host "postdeploy: AZURE_SUBSCRIPTION_ID is not set; using the Azure CLI's current subscription (az account set changes it)."
}

# 3. The right to read the group, and which system topic the HR account has: the one main.bicep
#    made, or one Defender for Storage made first (an account has at most one).
$topic = Invoke-Az (@('eventgrid', 'system-topic', 'list') + $sub + @('--resource-group', $group,
        '--query', "[?ends_with(source, '/$account')].name | [0]", '--output', 'tsv'))
if ($null -eq $topic) {
    $why = Explain 'read Event Grid topics' 'The resource group'
    if (-not $why) { $why = "postdeploy: could not list the Event Grid system topics in ${group}: $(($script:azError -split "`n")[0])" }
    Fail $why
}
if (-not $topic) {
    Fail "postdeploy: storage account $account has no Event Grid system topic in ${group}: run 'azd provision', $retry."
}
if ($topic -ne $env:HR_EVENTGRID_SYSTEM_TOPIC_NAME) {
    Write-Host "postdeploy: $account already has the system topic $topic (Defender for Storage makes one); subscribing on it, and recording it for the next provision (HRUPLOAD_EXISTING_SYSTEM_TOPIC_NAME)."
    if (Get-Command azd -ErrorAction SilentlyContinue) {
        $envArgs = if ($env:AZURE_ENV_NAME) { @('--environment', $env:AZURE_ENV_NAME) } else { @() }
        & azd env set @envArgs HRUPLOAD_EXISTING_SYSTEM_TOPIC_NAME $topic
    }
}

# 4. The blob extension key, which the host creates once it has loaded the code. Asks only
#    whether the key exists: its value is never printed or kept.
$attempt = 1
while ($true) {
    $hasKey = Invoke-Az (@('functionapp', 'keys', 'list') + $sub + @('--resource-group', $group,
            '--name', $app, '--query', 'systemKeys.blobs_extension != `null`', '--output', 'tsv'))
    if ($hasKey -eq 'true') { break }
    if ($null -eq $hasKey) {
        $why = Explain "read the function app's keys" "Function app $app"
        if ($why) { Fail $why }
    }
    if ($attempt -ge $waitAttempts) {
        Fail "postdeploy: $app has no blobs_extension key after $attempt tries. Check that the deployment succeeded and the app lists $($env:HR_BLOB_FUNCTION_NAME) (az functionapp function list), $retry."
    }
    Write-Host "postdeploy: waiting for the Functions host to create the blob extension key ($attempt/$waitAttempts)"
    $attempt++
    Start-Sleep -Seconds $waitSeconds
}

# 5. The subscription itself: the same deployment every time, so a repeat changes nothing.
Write-Host "postdeploy: creating or updating the Event Grid subscription for $($env:HR_INCOMING_CONTAINER)"
$deployed = Invoke-Az (@('deployment', 'group', 'create') + $sub + @(
        '--resource-group', $group,
        '--name', 'hrupload-eventgrid-subscription',
        '--template-file', (Join-Path $root 'infra/app/eventgrid-subscription.bicep'),
        '--parameters',
        "systemTopicName=$topic",
        "functionAppName=$app",
        "functionName=$($env:HR_BLOB_FUNCTION_NAME)",
        "storageAccountName=$account",
        "incomingContainerName=$($env:HR_INCOMING_CONTAINER)",
        "deadLetterContainerName=$($env:HR_DEAD_LETTER_CONTAINER)",
        '--output', 'none'))
if ($null -eq $deployed) {
    $why = Explain 'deploy the Event Grid subscription' 'A resource the subscription needs'
    # az's own error, with any webhook key in a URL masked.
    [Console]::Error.WriteLine(($script:azError -replace 'code=[^&" ]*', 'code=***'))
    if (-not $why) { $why = "postdeploy: the Event Grid subscription deployment failed (above); fix the cause, $retry." }
    Fail $why
}

Remove-Item -Force $errFile -ErrorAction SilentlyContinue
Write-Host "postdeploy: Event Grid delivers new files in $($env:HR_INCOMING_CONTAINER) to $($env:HR_BLOB_FUNCTION_NAME)."
